from __future__ import annotations

import csv
import re
from datetime import datetime
from pathlib import Path

import numpy as np
import pytest

from contracts.schema import FieldType
from node.sampledata import generate, profile_schema


@pytest.fixture(scope="module")
def sample(tmp_path_factory: pytest.TempPathFactory) -> dict[str, list[str]]:
    path = generate(tmp_path_factory.mktemp("sample") / "steel.csv", rows=20_000, seed=7, factory_index=2)
    with path.open(newline="", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    return {name: [row[name] for row in rows] for name in rows[0]}


def numbers(cells: list[str]) -> np.ndarray:
    return np.array([float(c) if c else np.nan for c in cells])


def test_same_seed_same_bytes_other_seed_other_bytes(tmp_path: Path) -> None:
    first = generate(tmp_path / "a.csv", rows=500, seed=3).read_bytes()
    assert generate(tmp_path / "b.csv", rows=500, seed=3).read_bytes() == first
    assert generate(tmp_path / "c.csv", rows=500, seed=4).read_bytes() != first
    assert generate(tmp_path / "d.csv", rows=500, seed=3, factory_index=1).read_bytes() != first


def test_header_and_rows_follow_the_schema(sample: dict[str, list[str]]) -> None:
    schema = profile_schema("steel")
    assert list(sample) == schema.field_names
    assert len(sample["ts"]) == 20_000
    for field in schema.fields:
        cells = sample[field.name]
        if field.type is FieldType.CATEGORY:
            assert set(cells) == set(field.categories or [])
        elif field.type is FieldType.INTEGER:
            assert all(re.fullmatch(r"-?\d+", c) for c in cells)
        elif field.type is FieldType.TIMESTAMP:
            stamps = [datetime.fromisoformat(c) for c in cells]
            assert stamps == sorted(stamps)


def test_personal_fields_are_flagged_and_look_real(sample: dict[str, list[str]]) -> None:
    schema = profile_schema()
    assert [f.name for f in schema.fields if f.personal] == ["operator_name", "operator_mobile"]
    assert all(re.fullmatch(r"1[3-9]\d{9}", m) for m in sample["operator_mobile"])
    assert all(re.fullmatch(r"[\u4e00-\u9fff]{2,3}", n) for n in sample["operator_name"])
    pairs = set(zip(sample["operator_name"], sample["operator_mobile"], strict=True))
    assert 10 <= len(pairs) <= 40  # a crew of operators, each with one number


def test_shift_follows_the_clock(sample: dict[str, list[str]]) -> None:
    for stamp, shift in zip(sample["ts"], sample["shift"], strict=True):
        hour = datetime.fromisoformat(stamp).hour
        assert shift == ("A" if 6 <= hour < 14 else "B" if 14 <= hour < 22 else "C")


def test_data_has_gaps_and_outliers_to_exercise_nulls_and_clipping(sample: dict[str, list[str]]) -> None:
    temp = numbers(sample["furnace_temp_c"])
    assert 0 < np.isnan(temp).sum() < 0.02 * len(temp)
    assert np.nanmax(temp) > 1800
    assert 1550 < np.nanmedian(temp) < 1700
    energy = numbers(sample["energy_kwh_per_t"])
    assert np.nanmax(energy) > 700 and 300 < np.nanmedian(energy) < 700


def test_correlations_make_the_analyses_meaningful(sample: dict[str, list[str]]) -> None:
    temp, energy = numbers(sample["furnace_temp_c"]), numbers(sample["energy_kwh_per_t"])
    defect, scrap = numbers(sample["defect_rate_pct"]), numbers(sample["scrap_ratio"])
    steps = np.array(sample["process_step"])
    usable = ~np.isnan(temp) & ~np.isnan(energy) & ~np.isnan(defect) & (temp <= 1800) & (energy <= 700)

    def corr(a: np.ndarray, b: np.ndarray, rows: np.ndarray) -> float:
        return float(np.corrcoef(a[rows], b[rows])[0, 1])

    assert corr(temp, defect, usable) > 0.4
    assert corr(scrap, energy, usable) > 0.2
    for step in ("BOF", "LF", "CC"):
        assert corr(temp, energy, usable & (steps == step)) > 0.5
    means = {step: np.mean(energy[usable & (steps == step)]) for step in ("BOF", "LF", "RH", "CC")}
    assert means["LF"] > means["BOF"] > means["CC"]


def test_factories_differ(tmp_path: Path) -> None:
    def mean_energy(index: int) -> float:
        path = generate(tmp_path / f"f{index}.csv", rows=3000, seed=50 + index, factory_index=index)
        with path.open(newline="", encoding="utf-8") as handle:
            return float(np.nanmean(numbers([r["energy_kwh_per_t"] for r in csv.DictReader(handle)])))

    means = [mean_energy(i) for i in range(4)]
    assert max(means) - min(means) > 5


def test_unknown_profile_and_bad_row_count(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="unknown sample-data profile"):
        profile_schema("paper")
    with pytest.raises(ValueError):
        generate(tmp_path / "x.csv", rows=-1, seed=1)
    assert generate(tmp_path / "empty.csv", rows=0, seed=1).read_text().count("\n") == 1
