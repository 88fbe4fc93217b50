"""The audit log of a real space: full story of a job, verification, tampering, and a forked coordinator."""

from __future__ import annotations

import json
import shutil
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from coordinator.client.gateway import GatewayError
from coordinator.localspace.harness import LocalSpace, factory_id, terminate
from node.journal import Journal

from .conftest import start_space

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def audited(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[LocalSpace, str]]:
    space = start_space(tmp_path_factory.mktemp("audited"), 3)
    try:
        with space.buyer() as buyer:
            job = buyer.wait(buyer.submit_job({"kind": "mean", "dataset": "steel_production",
                                               "field": "furnace_temp_c"})["id"])  # fmt: skip
            buyer.result(job["id"])
            with pytest.raises(GatewayError):  # a refused job is audited too
                buyer.submit_job({"kind": "mean", "dataset": "steel_production", "field": "operator_name"})
        _wait_for_cosignatures(space)
        yield space, job["id"]
    finally:
        space.stop()


def _wait_for_cosignatures(space: LocalSpace, timeout: float = 30.0) -> None:
    """Until every node has cosigned a checkpoint covering the whole log."""
    deadline = time.monotonic() + timeout
    while True:
        with space.operator() as operator:
            size = len(operator.audit_entries())
        sizes = [_cosigned(f.directory) for f in space.factories]
        if all(s >= size for s in sizes):
            return
        assert time.monotonic() < deadline, f"log size {size}, witnessed {sizes}"
        time.sleep(0.3)


def _cosigned(node_dir: Path) -> int:
    state = node_dir / "identity" / "witness.json"
    return json.loads(state.read_text())["size"] if state.exists() else 0


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "coordinator", *args], capture_output=True, text=True, check=False
    )


def test_audit_show_tells_the_full_story_of_a_job(audited: tuple[LocalSpace, str]) -> None:
    space, job_id = audited
    shown = _cli("audit", "show", "--job", job_id, "--json", "--data-dir", str(space.coordinator_dir))
    assert shown.returncode == 0, shown.stderr
    kinds = [e["kind"] for e in json.loads(shown.stdout)]
    assert kinds == ["job.submitted", "job.started", "job.succeeded", "result.released"]
    text = _cli("audit", "show", "--job", job_id, "--data-dir", str(space.coordinator_dir)).stdout
    assert "job.succeeded" in text and "contributors=3" in text


def test_every_security_relevant_event_is_logged(audited: tuple[LocalSpace, str]) -> None:
    space, _job = audited
    with space.operator() as operator:
        kinds = {e["kind"] for e in operator.audit_entries()}
        refused = operator.audit_entries(kind="job.refused")
    assert {"enrollment.token_issued", "participant.enrolled", "certificate.issued", "job.submitted",
            "job.started", "job.succeeded", "result.released", "job.refused"} <= kinds  # fmt: skip
    assert refused[0]["payload"]["code"] == "policy_violation"
    assert refused[0]["payload"]["constraint"] in {"personal_information", "fields"}


def test_participant_reads_only_entries_naming_it(audited: tuple[LocalSpace, str]) -> None:
    space, _job = audited
    with space.enroll_buyer(factory_id(60)) as stranger:
        mine = stranger.audit_entries()
    assert mine and all(e["subjects"]["participant"] == factory_id(60) for e in mine)


def test_verify_passes_locally_and_through_the_gateway(audited: tuple[LocalSpace, str]) -> None:
    space, _job = audited
    local = _cli("audit", "verify", "--data-dir", str(space.coordinator_dir))
    assert local.returncode == 0, local.stderr
    assert "3 witness node(s)" in local.stdout
    # The operator's token from its data directory; the log key the first node pinned at enrollment.
    node_dir, data_dir = str(space.factories[0].directory), str(space.coordinator_dir)
    remote = _cli("audit", "verify", "--url", space.http_url, "--data-dir", data_dir, "--node-dir", node_dir)
    assert remote.returncode == 0, remote.stderr
    # Said plainly, not "0 cosigned": without witness keys the client cannot check any cosignature.
    assert "cosignatures not checked (give --witness KEY" in " ".join(remote.stdout.split())


TAMPERING = {
    "edit": (
        "UPDATE audit_entries SET canonical = replace(canonical, 'mean', 'MEAN') WHERE idx = {k}",
        "{k}",
    ),
    "delete": ("DELETE FROM audit_entries WHERE idx = {k}", "{k}"),
    "reorder": (
        "UPDATE audit_entries SET canonical = CASE idx WHEN {k} THEN (SELECT canonical FROM audit_entries "
        "WHERE idx = {k} + 1) ELSE (SELECT canonical FROM audit_entries WHERE idx = {k}) END "
        "WHERE idx IN ({k}, {k} + 1)",
        "{k}",
    ),
    # A forged entry slipped in after the last real one: it claims an index it does not have.
    "insert": (
        "INSERT INTO audit_entries (idx, kind, canonical, leaf_hash) "
        "SELECT (SELECT max(idx) + 1 FROM audit_entries), kind, canonical, leaf_hash "
        "FROM audit_entries WHERE idx = {k}",
        "{end}",
    ),
    "truncate": (
        "DELETE FROM audit_entries WHERE idx >= {k}; DELETE FROM audit_nodes WHERE level = 0 AND idx >= {k}",
        "{k}",
    ),
}


@pytest.mark.parametrize("how", sorted(TAMPERING))
def test_tampering_is_detected_with_the_first_bad_index(
    audited: tuple[LocalSpace, str], how: str, tmp_path: Path
) -> None:
    space, _job = audited
    copy = tmp_path / "coordinator"
    _snapshot(space.coordinator_dir, copy)
    k = _job_submitted_index(copy)
    with sqlite3.connect(copy / "coordinator.db") as db:
        end = db.execute("SELECT count(*) FROM audit_entries").fetchone()[0]
    statement, expected = TAMPERING[how]
    with sqlite3.connect(copy / "coordinator.db") as db:
        db.executescript(statement.format(k=k))
    result = _cli("audit", "verify", "--data-dir", str(copy))
    assert result.returncode == 1, result.stdout
    assert f"first bad index: {expected.format(k=k, end=end)}" in result.stderr


def _snapshot(source: Path, target: Path) -> None:
    """A consistent copy of a live SQLite store (the coordinator keeps running)."""
    target.mkdir()
    for name in ("ca.key", "ca.crt", "log.key"):
        shutil.copy(source / name, target / name)
    with (
        sqlite3.connect(source / "coordinator.db") as live,
        sqlite3.connect(target / "coordinator.db") as copy,
    ):
        live.backup(copy)


def _job_submitted_index(copy: Path) -> int:
    with sqlite3.connect(copy / "coordinator.db") as db:
        row = db.execute("SELECT min(idx) FROM audit_entries WHERE kind = 'job.submitted'").fetchone()
    return int(row[0])


def test_a_forked_coordinator_is_detected_by_its_witnesses(tmp_path: Path) -> None:
    space = start_space(tmp_path, 3)
    try:
        _wait_for_cosignatures(space)
        witnessed = min(_cosigned(f.directory) for f in space.factories)
        assert witnessed > 0
        for factory in space.factories:
            terminate(factory.process)
        # The operator rewrites history: a fresh log with other entries, longer than the witnessed one.
        space.stop_coordinator()
        with sqlite3.connect(space.coordinator_dir / "coordinator.db") as db:
            for table in (
                "audit_cosignatures",
                "audit_checkpoints",
                "audit_subjects",
                "audit_nodes",
                "audit_entries",
            ):
                db.execute(f"DELETE FROM {table}")
        space.restart_coordinator(crash=False)
        with space.operator() as operator:
            for i in range(witnessed + 3):
                operator.create_enrollment_token(factory_id(50 + i % 40), "factory")
        time.sleep(2)  # a checkpoint of the forked log is signed
        for factory in space.factories:
            space.start_node(factory)
        deadline = time.monotonic() + 30
        while not all(_fork_seen(f.directory) for f in space.factories):
            assert time.monotonic() < deadline, "nodes did not detect the fork"
            time.sleep(0.3)
        with space.operator() as operator:
            alarms = operator.audit_entries(kind="witness.alarm")
        assert {a["subjects"]["participant"] for a in alarms} == {f.participant_id for f in space.factories}
        assert all(_cosigned(f.directory) == witnessed for f in space.factories)  # they did not cosign
    finally:
        space.stop()


def _fork_seen(node_dir: Path) -> bool:
    return any(e["event"] == "log_fork_detected" for e in Journal(node_dir / "journal.jsonl").entries())


def test_truncation_that_also_deletes_checkpoints_is_caught_by_a_witness(
    audited: tuple[LocalSpace, str], tmp_path: Path
) -> None:
    """The store alone cannot tell; what a node last cosigned can."""
    space, _job = audited
    copy = tmp_path / "coordinator"
    _snapshot(space.coordinator_dir, copy)
    k = _job_submitted_index(copy)
    with sqlite3.connect(copy / "coordinator.db") as db:
        db.executescript(  # a careful intruder: every row past index k goes, subtree hashes included
            f"DELETE FROM audit_entries WHERE idx >= {k}; DELETE FROM audit_subjects WHERE entry_idx >= {k};"
            f"DELETE FROM audit_nodes WHERE (idx + 1) * (1 << level) > {k};"
            f"DELETE FROM audit_cosignatures WHERE size > {k};"
            f"DELETE FROM audit_checkpoints WHERE size > {k};"
        )
    assert _cli("audit", "verify", "--data-dir", str(copy)).returncode == 0  # consistent in itself
    witness_state = space.factories[0].directory / "identity" / "witness.json"
    caught = _cli("audit", "verify", "--data-dir", str(copy), "--trusted", str(witness_state))
    assert caught.returncode == 1, caught.stdout
    assert f"first bad index: {k}" in caught.stderr


def test_revoked_certificate_disconnects_and_refuses_the_node(audited: tuple[LocalSpace, str]) -> None:
    """Runs last in this module: it takes one factory out of the space."""
    space, _job = audited
    victim = space.factories[-1]
    where = ("--data-dir", str(space.coordinator_dir))
    revoked = _cli(
        "revoke-certificate", "--participant-id", victim.participant_id, "--reason", "laptop stolen", *where
    )
    assert revoked.returncode == 0, revoked.stderr
    space.wait_for_nodes_exactly(len(space.factories) - 1)
    # Refused on reconnect, the node stops with its own exit code rather than dial a closed door for ever.
    assert victim.process is not None and victim.process.wait(timeout=30) == 3
    refusals = [
        e
        for e in Journal(victim.directory / "journal.jsonl").entries()
        if "PERMISSION_DENIED" in str(e.get("reason"))
    ]
    assert len(refusals) == 1 and "revoked by the operator" in refusals[0]["reason"]
    assert "enroll again" in (victim.directory / "node.log").read_text(encoding="utf-8")
    with space.operator() as operator:
        entry = operator.audit_entries(kind="certificate.revoked")[-1]
        assert entry["subjects"]["participant"] == victim.participant_id
        assert entry["payload"]["reason"] == "laptop stolen"
        assert len(operator.nodes()) == len(space.factories) - 1
