"""A node's part of an extract: its own secret, its own schema's say over personal fields, and typed reads.

Compared with the CSV module reading the same file; the desensitization itself is tested in
``tests/contracts/test_extracts.py``.
"""

from __future__ import annotations

import csv
import stat
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from typer.testing import CliRunner

from contracts.identity import make_participant_id
from contracts.jobspec import JobKind, JobSpec
from contracts.schema import DatasetSchema
from node.cli import app
from node.config import DatasetConfig, load_config
from node.exceptions import JobRefused
from node.extract import SECRET_FILE, fields_to_read, hardened, node_secret, read_rows
from tests.contracts.test_extracts import EXTRACT, grant, make_offer

from .tables import kiln_log

runner = CliRunner()


def test_the_secret_is_made_once_private_and_shared_by_concurrent_first_uses(tmp_path: Path) -> None:
    identity = tmp_path / "identity"
    with ThreadPoolExecutor(8) as pool:
        secrets = set(pool.map(lambda _: node_secret(identity), range(16)))
    assert len(secrets) == 1 and len(secrets.pop()) == 32
    assert stat.S_IMODE((identity / SECRET_FILE).stat().st_mode) == 0o600
    assert [p.name for p in identity.iterdir()] == [SECRET_FILE]  # no staging file left behind
    assert node_secret(identity) == (identity / SECRET_FILE).read_bytes()


def test_a_short_secret_is_refused_not_used(tmp_path: Path) -> None:
    (tmp_path / SECRET_FILE).write_bytes(b"\x01" * 8)
    with pytest.raises(JobRefused) as refused:
        node_secret(tmp_path)
    assert refused.value.code == "node_secret"


def test_a_field_this_node_calls_personal_needs_removal_whatever_the_contract_says() -> None:
    contract_grant = grant()  # the offers describe "shift" as a plain category kept as it is
    assert "shift" in contract_grant.releasable()
    schema = make_offer(0).dataset_schema.model_dump(mode="json")
    for spec in schema["fields"]:
        if spec["name"] == "shift":
            spec["personal"] = True
    own = hardened(contract_grant, DatasetSchema.model_validate(schema))
    assert "shift" not in own.releasable()
    assert "personal information" in (own.problem("shift") or "")
    assert set(own.needs_removal) == {*contract_grant.needs_removal, "shift"}


def test_the_entity_of_a_date_shift_is_read_too() -> None:
    assert EXTRACT["rules"]["fields"]["ts"]["entity_field"] == "operator_name"
    assert fields_to_read(grant(), ["line", "ts"]) == ["line", "ts", "operator_name"]
    assert fields_to_read(grant(), ["line"]) == ["line"]


@pytest.fixture
def kiln(tmp_path: Path) -> DatasetConfig:
    data = kiln_log(tmp_path / "data" / "kiln.csv", rows=300)
    pid = make_participant_id("91320500MA1X2Y3L4")
    done = runner.invoke(app, ["init", str(tmp_path), "--participant-id", pid, "--data", str(data)])
    assert done.exit_code == 0, done.output
    with data.open("a", encoding="utf-8") as handle:  # a glitching thermocouple and an unknown kiln
        handle.write("2024-03-01 05:00:00,K1,abc,1.000\n2024-03-01 05:01:00,K9,1000.0,1.000\n")
    return load_config(tmp_path / "node.toml").dataset("kiln")


def test_rows_are_read_typed_and_filtered_like_the_file_says(kiln: DatasetConfig) -> None:
    spec = JobSpec(
        kind=JobKind.EXTRACT, dataset="kiln", columns=["kiln_id", "temperature"],
        filters=[{"field": "temperature", "op": "between", "value": [1000, 1400]}],
    )  # fmt: skip
    rows = read_rows(kiln, spec, ["kiln_id", "temperature"], limit=10_000)
    with kiln.paths[0].open(encoding="utf-8") as handle:
        expected = []
        for line in csv.DictReader(handle):
            try:
                temperature = float(line["temperature"])
            except ValueError:
                continue  # empty or not a number: no filter matches a missing value
            if 1000 <= temperature <= 1400:
                kiln_id = line["kiln_id"] if line["kiln_id"] in ("K1", "K2", "K3") else None
                expected.append({"kiln_id": kiln_id, "temperature": temperature})
    assert rows == expected
    assert {"kiln_id": None, "temperature": 1000.0} in rows  # K9 is not a declared kiln: read as missing
    assert len(read_rows(kiln, spec, ["kiln_id"], limit=5)) == 6  # one more than the limit tells "too many"
