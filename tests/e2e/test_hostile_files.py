"""A node never dies from its own data: every broken-file case becomes a refusal the coordinator sees.

Each case breaks one factory's file while the space is running, runs a job, and checks that the node
process is still alive, journalled a refusal with a reason, and that the coordinator recorded the node's
refusal code (the job goes on with the three other factories); then the file is repaired and the next job
counts that factory again.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from coordinator.localspace.harness import Factory, LocalSpace, terminate
from node.journal import Journal

from .conftest import start_space

pytestmark = pytest.mark.e2e
MEAN = {"kind": "mean", "dataset": "steel_production", "field": "furnace_temp_c"}
# Row content that must never reach the coordinator inside a refusal's reason.
MARKER = "MARKER-ROW-CONTENT"


@pytest.fixture(scope="module")
def space(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalSpace]:
    local = start_space(tmp_path_factory.mktemp("hostile"), 4)
    try:
        yield local
    finally:
        local.stop()


def _lines(data: bytes) -> list[bytes]:
    return data.split(b"\n")


def malformed_line(path: Path, original: bytes) -> None:
    """A line in the middle with three cells too many."""
    lines = _lines(original)
    middle = len(lines) // 2
    lines[middle] += f",{MARKER},x,y".encode()
    path.write_bytes(b"\n".join(lines))


def empty_file(path: Path, original: bytes) -> None:
    path.write_bytes(b"")


def truncated_file(path: Path, original: bytes) -> None:
    """Cut in the middle of a line, as a copy interrupted half-way leaves it."""
    cut = len(original) // 2
    while original[cut - 1 : cut + 1].count(b"\n") or original[cut - 1 : cut] == b",":
        cut += 1
    path.write_bytes(original[:cut])


def renamed_column(path: Path, original: bytes) -> None:
    header, rest = original.split(b"\n", 1)
    path.write_bytes(header.replace(b"furnace_temp_c", b"furnace_temperature") + b"\n" + rest)


def invalid_utf8(path: Path, original: bytes) -> None:
    """One line re-encoded in GBK, as a spreadsheet export on a Chinese desktop does it."""
    lines = _lines(original)
    middle = len(lines) // 3
    lines[middle] = lines[middle].decode("utf-8").encode("gbk")
    path.write_bytes(b"\n".join(lines))


def deleted_file(path: Path, original: bytes) -> None:
    path.unlink()


CASES: list[tuple[Callable[[Path, bytes], None], str]] = [
    (malformed_line, "data_unreadable"),
    (empty_file, "data_unreadable"),
    (truncated_file, "data_unreadable"),
    (renamed_column, "schema_mismatch"),
    (invalid_utf8, "data_unreadable"),
    (deleted_file, "data_missing"),
]


def _run(space: LocalSpace) -> dict[str, Any]:
    with space.buyer() as buyer:
        return buyer.wait(buyer.submit_job(MEAN)["id"], timeout=120)


def _journalled(factory: Factory, job_id: str) -> list[dict[str, Any]]:
    return [e for e in Journal(factory.directory / "journal.jsonl").entries() if e.get("job_id") == job_id]


def _node_refusals(space: LocalSpace, job_id: str) -> dict[str, str]:
    """What the coordinator audited as node refusals of this job, by participant."""
    with space.operator() as operator:
        entries = operator.audit_entries(kind="node.refused")
    return {
        e["subjects"]["participant"]: e["payload"]["reason"]
        for e in entries
        if e["subjects"]["job"] == job_id
    }


@pytest.mark.parametrize(("breaker", "code"), CASES, ids=[breaker.__name__ for breaker, _ in CASES])
def test_a_broken_file_is_refused_and_the_node_stays_up(
    space: LocalSpace, breaker: Callable[[Path, bytes], None], code: str
) -> None:
    victim = space.factories[0]
    original = victim.data_file.read_bytes()
    breaker(victim.data_file, original)
    try:
        job = _run(space)
        assert victim.process is not None and victim.process.poll() is None, "the node process exited"
        assert job["state"] == "FAILED" or job["contributors"] == len(space.factories) - 1, job
        refused = [e for e in _journalled(victim, job["id"]) if e["event"] == "job_refused"]
        assert [e["code"] for e in refused] == [code], _journalled(victim, job["id"])
        assert refused[0]["reason"]
        reasons = _node_refusals(space, job["id"])
        assert list(reasons) == [victim.participant_id], reasons
        assert reasons[victim.participant_id].startswith(f"{code}: ")
        assert MARKER not in reasons[victim.participant_id]  # no row content leaves the factory
    finally:
        victim.data_file.write_bytes(original)
    repaired = _run(space)
    assert repaired["state"] == "SUCCEEDED" and repaired["contributors"] == len(space.factories), repaired
    assert "job_accepted" in {e["event"] for e in _journalled(victim, repaired["id"])}
    assert victim.process.poll() is None


def test_a_node_whose_only_dataset_is_broken_does_not_start(space: LocalSpace) -> None:
    """At start the node checks its files: with nothing usable to offer it exits with a clear message."""
    victim = space.factories[1]
    original = victim.data_file.read_bytes()
    terminate(victim.process)
    space.wait_for_nodes_exactly(len(space.factories) - 1)
    victim.data_file.write_bytes(b"")
    try:
        space.start_node(victim)
        assert victim.process is not None and victim.process.wait(timeout=60) == 2
        assert "no dataset is usable" in (victim.directory / "node.log").read_text(encoding="utf-8")
        journal = Journal(victim.directory / "journal.jsonl").entries()
        refused = [e for e in journal if e["event"] == "dataset_refused"]
        assert refused[-1]["dataset"] == "steel_production"
        assert refused[-1]["problems"][0]["code"] == "data_unreadable"
    finally:
        victim.data_file.write_bytes(original)
    space.start_node(victim)
    space.wait_for_nodes(len(space.factories))
    assert _run(space)["contributors"] == len(space.factories)
