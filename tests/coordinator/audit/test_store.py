from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import Engine, event

from coordinator.audit.store import AuditLog, EntryDraft
from coordinator.audit.verify import verify_store
from protocols.tlog import merkle
from protocols.tlog.checkpoint import WitnessKey, cosign, parse_checkpoint
from protocols.tlog.exceptions import LogRangeError, SignatureError
from protocols.tlog.note import NoteSigner, open_note, split_note
from tests.coordinator.audit.conftest import ORIGIN

NOW = datetime(2025, 5, 1, 9, 0, 0, tzinfo=UTC)


def _fill(log: AuditLog, count: int, start: int = 0) -> None:
    for i in range(start, start + count):
        log.append(
            f"participant-{i % 3}",
            "job.submitted" if i % 2 else "contract.agreed",
            {"job": f"job-{i % 4}", "participant": f"p-{i % 3}"},
            {"seq": i, "ok": i % 5 != 0},
            NOW + timedelta(seconds=i),
        )


def _leaf_hashes(log: AuditLog, size: int) -> list[bytes]:
    return [e.leaf_hash() for e in log.entries(0, size)]


class TestAuditLogContract:
    """The same behaviour on every database the coordinator supports."""

    def test_empty_log(self, engine: Engine, signer: NoteSigner) -> None:
        log = AuditLog(engine, ORIGIN, signer)
        assert log.size() == 0
        assert log.root() == merkle.EMPTY_ROOT
        assert log.latest_checkpoint() is None
        assert log.entries(0, 10) == []
        note = log.checkpoint(NOW)
        assert parse_checkpoint(open_note(note, [signer.verifier()]).text).size == 0
        assert verify_store(engine, signer.verifier()).size == 0

    def test_append_assigns_consecutive_indices(self, engine: Engine, signer: NoteSigner) -> None:
        log = AuditLog(engine, ORIGIN, signer)
        first = log.append("op", "enrollment", {"participant": "p-1"}, {"grade": "一般"}, NOW)
        second = log.append("op", "offer.published", {}, {}, NOW + timedelta(microseconds=5))
        assert (first.index, second.index) == (0, 1)
        assert second.time == "2025-05-01T09:00:00.000005Z"
        assert log.entry(0) == first
        assert log.entry(1).canonical_bytes() == second.canonical_bytes()
        assert log.size() == 2

    def test_roots_and_proofs_match_the_pure_tree(self, engine: Engine, signer: NoteSigner) -> None:
        log = AuditLog(engine, ORIGIN, signer)
        _fill(log, 21)
        leaves = _leaf_hashes(log, 21)
        for size in range(22):
            assert log.root(size) == merkle.root_from_leaves(leaves[:size])
        root = log.root()
        for index in range(21):
            merkle.verify_inclusion(leaves[index], index, 21, log.inclusion_proof(index, 21), root)
        for size1 in range(1, 22):
            for size2 in (size1, 13, 21):
                if size2 >= size1:
                    proof = log.consistency_proof(size1, size2)
                    merkle.verify_consistency(size1, size2, log.root(size1), log.root(size2), proof)

    def test_out_of_range_requests(self, engine: Engine, signer: NoteSigner) -> None:
        log = AuditLog(engine, ORIGIN, signer)
        _fill(log, 3)
        for call in (
            lambda: log.entry(3),
            lambda: log.root(4),
            lambda: log.inclusion_proof(3, 3),
            lambda: log.inclusion_proof(0, 4),
            lambda: log.consistency_proof(0, 2),
            lambda: log.consistency_proof(2, 4),
            lambda: log.checkpoint_at(3),
        ):
            with pytest.raises(LogRangeError):
                call()

    def test_checkpoints_only_when_the_log_grew(self, engine: Engine, signer: NoteSigner) -> None:
        log = AuditLog(engine, ORIGIN, signer)
        _fill(log, 5)
        note = log.checkpoint(NOW)
        assert log.checkpoint(NOW + timedelta(hours=1)) == note
        checkpoint = parse_checkpoint(open_note(note, [signer.verifier()]).text)
        assert (checkpoint.origin, checkpoint.size, checkpoint.root_hash) == (ORIGIN, 5, log.root(5))
        _fill(log, 2, start=5)
        newer = log.checkpoint(NOW)
        assert parse_checkpoint(split_note(newer)[0]).size == 7
        assert log.latest_checkpoint() == newer
        assert log.checkpoint_at(5) == note
        report = verify_store(engine, signer.verifier())
        assert (report.size, report.checkpoints, report.root) == (7, 2, log.root())

    def test_cosignatures(self, engine: Engine, signer: NoteSigner) -> None:
        log = AuditLog(engine, ORIGIN, signer)
        _fill(log, 4)
        body = split_note(log.checkpoint(NOW))[0]
        witness = WitnessKey("witness.example/factory-1", bytes(range(1, 33)))
        stranger = WitnessKey("witness.example/other", bytes(range(2, 34)))
        line = cosign(body, witness, NOW)
        log.add_cosignature(4, line, witness.verifier())
        log.add_cosignature(4, line, witness.verifier())  # a repeat changes nothing
        log.add_cosignature(4, cosign(body, stranger, NOW), stranger.verifier())
        with pytest.raises(SignatureError):
            log.add_cosignature(4, cosign(body.replace("\n4\n", "\n5\n"), witness, NOW), witness.verifier())
        with pytest.raises(LogRangeError):
            log.add_cosignature(9, line, witness.verifier())
        full = log.latest_checkpoint()
        assert full is not None and line in full
        opened = open_note(full, [signer.verifier(), witness.verifier()])
        assert len(opened.sigs) == 2 and len(opened.unverified_sigs) == 1
        report = verify_store(engine, signer.verifier(), [witness.verifier()])
        assert (report.cosignatures, report.unknown_cosignatures) == (1, 1)

    def test_entry_queries(self, engine: Engine, signer: NoteSigner) -> None:
        log = AuditLog(engine, ORIGIN, signer)
        _fill(log, 12)
        assert [e.index for e in log.entries(3, 4)] == [3, 4, 5, 6]
        assert [e.index for e in log.entries(0, 100, kind="job.submitted")] == [1, 3, 5, 7, 9, 11]
        assert [e.index for e in log.entries(0, 100, subject=("job", "job-2"))] == [2, 6, 10]
        assert [
            e.index for e in log.entries(1, 1, kind="contract.agreed", subject=("participant", "p-0"))
        ] == [6]
        assert log.entries(0, 10, subject=("job", "missing")) == []

    def test_batch_append_equals_single_appends(self, engine: Engine, signer: NoteSigner) -> None:
        log = AuditLog(engine, ORIGIN, signer)
        drafts = [EntryDraft("op", "budget.spent", {"job": f"j{i}"}, {"epsilon": 0.25}) for i in range(9)]
        made = log.append_batch(drafts[:4], NOW)
        log.append_batch([], NOW)
        for draft in drafts[4:]:
            log.append(*draft, NOW)
        assert [e.index for e in made] == [0, 1, 2, 3]
        assert log.root() == merkle.root_from_leaves([e.leaf_hash() for e in log.entries(0, 9)])
        verify_store(engine, signer.verifier())

    def test_two_writers_on_one_database(self, engine: Engine, signer: NoteSigner) -> None:
        first, second = AuditLog(engine, ORIGIN, signer), AuditLog(engine, ORIGIN, signer)
        _fill(first, 3)
        _fill(second, 2, start=3)  # must see the first writer's entries
        _fill(first, 2, start=5)  # its cached state is stale and must be reloaded
        assert [e.index for e in second.entries(0, 10)] == list(range(7))
        assert first.root() == second.root()
        verify_store(engine, signer.verifier())

    def test_concurrent_appends_do_not_interleave(self, engine: Engine, signer: NoteSigner) -> None:
        log = AuditLog(engine, ORIGIN, signer)
        errors: list[BaseException] = []

        def worker(n: int) -> None:
            try:
                for i in range(10):
                    log.append(f"thread-{n}", "node.refusal", {}, {"i": i}, NOW)
            except BaseException as exc:  # surfaced below
                errors.append(exc)

        threads = [threading.Thread(target=worker, args=(n,)) for n in range(4)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert errors == []
        assert [e.index for e in log.entries(0, 100)] == list(range(40))
        log.checkpoint(NOW)
        assert verify_store(engine, signer.verifier()).size == 40


def test_sqlite_reads_use_the_primary_key(sqlite_db: Engine, signer: NoteSigner) -> None:
    """Proof and append queries must be index look-ups, never table scans, to stay O(log n)."""
    log = AuditLog(sqlite_db, ORIGIN, signer)
    _fill(log, 37)
    seen: list[tuple[str, Any]] = []

    def capture(_conn: Any, _cursor: Any, statement: str, parameters: Any, *_: Any) -> None:
        if statement.lstrip().upper().startswith("SELECT"):
            seen.append((statement, parameters))

    event.listen(sqlite_db, "before_cursor_execute", capture)
    try:
        log.inclusion_proof(21, 37)
        log.consistency_proof(13, 37)
        log.append("op", "job.started", {}, {}, NOW)
    finally:
        event.remove(sqlite_db, "before_cursor_execute", capture)
    assert len(seen) >= 5
    with sqlite_db.connect() as conn:
        for statement, parameters in seen:
            plan = [row[-1] for row in conn.exec_driver_sql("EXPLAIN QUERY PLAN " + statement, parameters)]
            assert not any(step.startswith("SCAN audit_") for step in plan), (statement, plan)
