"""Data-quality figures against pandas on the same file, and what is published of them."""

from __future__ import annotations

import math
from datetime import UTC, datetime
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from contracts.identity import make_participant_id
from node.cli import app
from node.config import DatasetConfig, load_config
from node.quality import measure_quality, two_significant

from .tables import kiln_log

NOW = datetime(2025, 3, 1, tzinfo=UTC)
FIELDS = ["timestamp", "kiln_id", "temperature", "fuel_rate"]


@pytest.fixture
def kiln(tmp_path: Path) -> DatasetConfig:
    data = kiln_log(tmp_path / "data" / "kiln.csv", rows=1200)
    pid = make_participant_id("91320500MA1X2Y3L4")
    done = CliRunner().invoke(app, ["init", str(tmp_path), "--participant-id", pid, "--data", str(data)])
    assert done.exit_code == 0, done.output
    lines = data.read_text(encoding="utf-8").splitlines()
    planted = [
        *lines[5:25],  # twenty rows again: duplicates
        "2024-03-02 01:00:00,K9,1000.0,1.000",  # a kiln nobody declared
        "2024-03-02 01:01:00,K1,99999.0,1.000",  # far outside the bounds
        "2024-03-02 01:02:00,K2,hot,",  # a cell that does not parse, and an empty one
    ]
    data.write_text("\n".join([*lines, *planted]) + "\n", encoding="utf-8")
    return load_config(tmp_path / "node.toml").dataset("kiln")


def pandas_figures(dataset: DatasetConfig) -> dict[str, float]:
    raw = pd.read_csv(dataset.paths[0], dtype=str, keep_default_na=False)
    typed = pd.DataFrame(
        {
            "timestamp": pd.to_datetime(raw["timestamp"], errors="coerce", format="%Y-%m-%d %H:%M:%S"),
            "kiln_id": raw["kiln_id"].where(raw["kiln_id"] != ""),
            "temperature": pd.to_numeric(raw["temperature"], errors="coerce"),
            "fuel_rate": pd.to_numeric(raw["fuel_rate"], errors="coerce"),
        }
    )
    schema = dataset.schema
    valid = checked = 0
    for name in ("temperature", "fuel_rate"):
        spec, values = schema.field(name), typed[name].dropna()
        valid += int(values.between(spec.min, spec.max).sum())
        checked += len(values)
    kilns = typed["kiln_id"].dropna()
    valid += int(kilns.isin(schema.field("kiln_id").categories or []).sum())
    checked += len(kilns)
    return {
        "rows": len(typed),
        "completeness": typed.notna().to_numpy().sum() / typed.size,
        "validity": valid / checked,
        "duplicate_rate": typed.duplicated().sum() / len(typed),
        "last_update": typed["timestamp"].max().to_pydatetime().replace(tzinfo=UTC),
    }


def test_figures_equal_pandas_on_the_same_file(kiln: DatasetConfig) -> None:
    expected = pandas_figures(kiln)
    measured = measure_quality(kiln, FIELDS, NOW)
    assert measured.rows == two_significant(int(expected["rows"]))
    # Hundredths towards the worse side: never 1.00 complete or valid, never 0.00 duplicates, when not so.
    assert measured.completeness == math.floor(expected["completeness"] * 100) / 100 < 1
    assert measured.validity == math.floor(expected["validity"] * 100) / 100 < 1
    assert measured.duplicate_rate == math.ceil(expected["duplicate_rate"] * 100) / 100 > 0
    assert measured.last_update == expected["last_update"] and measured.measured_at == NOW


def test_volumes_are_published_to_two_significant_digits() -> None:
    assert [two_significant(n) for n in (0, 7, 99, 100, 1234, 1250, 98_765, 1_000_001)] == [
        0, 7, 99, 100, 1200, 1200, 99_000, 1_000_000,
    ]  # fmt: skip
