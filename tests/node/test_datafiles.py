"""The checks before each job, their cache, the data errors of a job's scan, and the start-up check."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from contracts.jobspec import JobSpec
from contracts.schema import DatasetSchema
from node import datafiles
from node.agent import NodeAgent, usable_datasets
from node.config import DatasetConfig
from node.datafiles import DataGuard, csv_header
from node.exceptions import DataMissing, DataUnreadable, NoUsableDatasetError, SchemaMismatch
from node.local_compute import local_vector

from .conftest import ContextFactory

SCHEMA = DatasetSchema.model_validate(
    {
        "name": "plant",
        "fields": [
            {"name": "shift", "type": "category", "categories": ["A", "B"]},
            {"name": "temp", "type": "number", "min": 1400, "max": 1800},
            {"name": "operator", "type": "text", "personal": True},
        ],
    }
)
GOOD = "shift,temp,operator\nA,1500,王伟\nB,1600,李娜\n"
MEAN = JobSpec.model_validate({"kind": "mean", "dataset": "plant", "field": "temp"})


def dataset(*paths: Path) -> DatasetConfig:
    return DatasetConfig(name="plant", paths=list(paths), format="csv", schema=SCHEMA)


@pytest.fixture
def good(tmp_path: Path) -> Path:
    path = tmp_path / "plant.csv"
    path.write_text(GOOD, encoding="utf-8")
    return path


def test_header_with_bom_and_crlf(tmp_path: Path) -> None:
    path = tmp_path / "excel.csv"
    path.write_bytes("\ufeffshift,temp,operator\r\nA,1500,王伟\r\n".encode())
    assert csv_header(path) == ["shift", "temp", "operator"]
    assert local_vector(MEAN, SCHEMA, [path], "csv")[0] == 1


def test_a_header_line_too_long(tmp_path: Path) -> None:
    path = tmp_path / "wide.csv"
    path.write_bytes(b"x" * (datafiles.HEADER_LIMIT + 10))
    with pytest.raises(DataUnreadable, match="too long"):
        csv_header(path)


def test_the_guard_rechecks_only_a_changed_file(good: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    checked: list[Path] = []
    real = datafiles.quick_check
    monkeypatch.setattr(datafiles, "quick_check", lambda p, s, f: (checked.append(p), real(p, s, f)))
    guard = DataGuard()
    guard.verify(dataset(good))
    guard.verify(dataset(good))
    assert checked == [good]
    good.write_text(GOOD.replace("temp", "temperature"), encoding="utf-8")
    with pytest.raises(SchemaMismatch):
        guard.verify(dataset(good))
    with pytest.raises(SchemaMismatch):  # a failed file is never trusted
        guard.verify(dataset(good))
    good.write_text(GOOD, encoding="utf-8")
    guard.verify(dataset(good))
    assert checked == [good] * 4


def test_the_guard_sees_a_deleted_file_at_once(good: Path) -> None:
    guard = DataGuard()
    guard.verify(dataset(good))
    good.unlink()
    with pytest.raises(DataMissing):
        guard.verify(dataset(good))


def test_the_guard_refuses_a_file_without_a_final_line_break(good: Path) -> None:
    good.write_text(GOOD.rstrip("\n"), encoding="utf-8")
    with pytest.raises(DataUnreadable, match="truncated"):
        DataGuard().verify(dataset(good))


def test_the_guard_refuses_invalid_utf8_in_a_column_no_job_reads(good: Path) -> None:
    good.write_bytes(GOOD.encode("utf-8").replace("王伟".encode(), "王伟".encode("gbk")))
    assert local_vector(MEAN, SCHEMA, [good], "csv")[0] == 2  # DuckDB never looks at that column
    with pytest.raises(DataUnreadable, match="UTF-8"):
        DataGuard().verify(dataset(good))


def test_a_malformed_line_is_unreadable_and_its_content_stays_in_the_detail(good: Path) -> None:
    good.write_text(GOOD + "A,1700,SECRET-CELL,surplus\n", encoding="utf-8")
    with pytest.raises(DataUnreadable) as caught:
        local_vector(MEAN, SCHEMA, [good], "csv")
    assert caught.value.reason == "cannot compute mean: a dataset file has a malformed line"
    assert "SECRET-CELL" in caught.value.detail


def test_invalid_utf8_in_a_column_the_job_reads(good: Path) -> None:
    good.write_bytes(GOOD.encode("utf-8") + b"\xff,1500,x\n")
    spec = JobSpec.model_validate({"kind": "count", "dataset": "plant", "group_by": "shift"})
    with pytest.raises(DataUnreadable, match="not valid UTF-8"):
        local_vector(spec, SCHEMA, [good], "csv")


def test_each_file_is_read_with_the_columns_of_its_own_header(good: Path, tmp_path: Path) -> None:
    other = tmp_path / "other.csv"
    other.write_text("temp,shift\n1700,A\n1800,B\n", encoding="utf-8")
    assert local_vector(MEAN, SCHEMA, [good, other], "csv")[0] == 4


def test_schema_mismatch_and_vanished_files_in_a_scan(good: Path, tmp_path: Path) -> None:
    renamed = tmp_path / "renamed.csv"
    renamed.write_text("shift,temperature\nA,1500\n", encoding="utf-8")
    with pytest.raises(SchemaMismatch, match="cannot compute mean"):
        local_vector(MEAN, SCHEMA, [renamed], "csv")
    repeated = tmp_path / "repeated.csv"
    repeated.write_text("temp,shift,temp\n1500,A,1600\n", encoding="utf-8")
    with pytest.raises(SchemaMismatch, match="repeated"):
        local_vector(MEAN, SCHEMA, [repeated], "csv")
    with pytest.raises(DataMissing):
        local_vector(MEAN, SCHEMA, [tmp_path / "gone.csv"], "csv")


def test_undeclared_columns_may_repeat_or_have_no_name(tmp_path: Path) -> None:
    path = tmp_path / "odd.csv"
    path.write_text("note,temp,,note,NOTE,TEMP\nx,1500,,y,z,1\n", encoding="utf-8")
    assert local_vector(MEAN, SCHEMA, [path], "csv")[0] == 1


def test_only_usable_datasets_are_offered(make_context: ContextFactory, good: Path, tmp_path: Path) -> None:
    broken = tmp_path / "broken.csv"
    broken.write_bytes(b"")
    other = DatasetConfig(
        name="other", paths=[broken], format="csv", schema=SCHEMA.model_copy(update={"name": "other"})
    )
    ctx = make_context([dataset(good), other])
    offered = usable_datasets(ctx)
    assert [d.name for d in offered] == ["plant"]
    [entry] = [e for e in ctx.journal.entries() if e["event"] == "dataset_refused"]
    assert entry["dataset"] == "other" and entry["problems"][0]["code"] == "data_unreadable"
    hello = NodeAgent(ctx, datasets=offered)._hello()
    assert [d.name for d in hello.datasets] == ["plant"]


def test_the_start_check_is_trusted_by_the_guard(
    make_context: ContextFactory, good: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    ctx = make_context([dataset(good)])
    usable_datasets(ctx)
    monkeypatch.setattr(datafiles, "quick_check", lambda *_: pytest.fail("checked again"))
    ctx.data.verify(dataset(good))
    os.utime(good, ns=(1, 1))
    with pytest.raises(pytest.fail.Exception):
        ctx.data.verify(dataset(good))


def test_no_usable_dataset_ends_the_start(make_context: ContextFactory, tmp_path: Path) -> None:
    with pytest.raises(NoUsableDatasetError, match="dataspace-node check"):
        usable_datasets(make_context([dataset(tmp_path / "gone.csv")]))
    assert usable_datasets(make_context([])) == []
