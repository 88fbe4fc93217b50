"""Verification streams the log: its memory does not grow with the log, and listings page in SQL."""

from __future__ import annotations

import tracemalloc
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, event

from coordinator.audit.store import AuditLog, EntryDraft
from coordinator.audit.verify import verify_store
from coordinator.store.database import make_engine
from protocols.tlog.note import NoteSigner
from tests.coordinator.audit.conftest import ORIGIN

NOW = datetime(2025, 9, 1, tzinfo=UTC)
PADDING = "x" * 900  # about a kilobyte per entry, so a verifier holding every row would show it


def _build(path: Path, signer: NoteSigner, size: int) -> Engine:
    engine = make_engine(None, path)
    log = AuditLog(engine, ORIGIN, signer)
    for start in range(0, size, 500):
        drafts = [
            EntryDraft("op", "job.started", {"job": f"job-{i % 50}"}, {"n": i, "note": PADDING})
            for i in range(start, min(size, start + 500))
        ]
        log.append_batch(drafts, NOW)
        log.checkpoint(NOW)  # checkpoints grow with the log too
    return engine


def _peak_bytes(engine: Engine, signer: NoteSigner) -> tuple[int, int]:
    tracemalloc.start()
    try:
        report = verify_store(engine, signer.verifier())
        return report.size, tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def test_verification_memory_is_flat_in_the_log_size(tmp_path: Path, signer: NoteSigner) -> None:
    small = _build(tmp_path / "small", signer, 2_000)
    large = _build(tmp_path / "large", signer, 20_000)
    try:
        verify_store(small, signer.verifier())  # compiled statements are cached once, not per log
        small_size, small_peak = _peak_bytes(small, signer)
        large_size, large_peak = _peak_bytes(large, signer)
    finally:
        small.dispose()
        large.dispose()
    assert (small_size, large_size) == (2_000, 20_000)
    # Holding the rows would take 10x: ~20 MB against ~2 MB.
    assert large_peak < 1.5 * small_peak, (small_peak, large_peak)
    assert large_peak < 8_000_000, large_peak


def test_huge_entries_are_verified_a_few_at_a_time(tmp_path: Path, signer: NoteSigner) -> None:
    """A log already holding 32 one-megabyte entries: pages are bounded in bytes, not only in rows."""
    engine = make_engine(None, tmp_path)
    try:
        log = AuditLog(engine, ORIGIN, signer)
        huge = [EntryDraft("op", "job.refused", {"job": f"j{i}"}, {"in": "v" * 1_000_000}) for i in range(32)]
        log.append_batch(huge, NOW)
        log.checkpoint(NOW)
        verify_store(engine, signer.verifier())
        size, peak = _peak_bytes(engine, signer)
    finally:
        engine.dispose()
    assert size == 32
    assert peak < 16_000_000, peak  # holding them all would take more than 32 MB


def test_listings_filter_and_page_in_the_database(sqlite_db: Engine, signer: NoteSigner) -> None:
    """A kind or subject listing, paged by index, is index searches only: no scan, no sort."""
    log = AuditLog(sqlite_db, ORIGIN, signer)
    drafts = [
        EntryDraft("op", ("job.refused", "job.started")[i % 2], {"job": f"j{i % 7}"}, {}) for i in range(300)
    ]
    log.append_batch(drafts, NOW)
    seen: list[tuple[str, Any]] = []

    def capture(_conn: Any, _cursor: Any, statement: str, parameters: Any, *_: Any) -> None:
        seen.append((statement, parameters))

    event.listen(sqlite_db, "before_cursor_execute", capture)
    try:
        refused = log.stored_entries(10, start=200, kind="job.refused")
        named = log.stored_entries(10, start=200, kind="job.started", subject=("job", "j3"))
    finally:
        event.remove(sqlite_db, "before_cursor_execute", capture)
    assert [e.idx for e in refused] == list(range(200, 220, 2))
    assert [e.idx for e in named] == [i for i in range(200, 300) if i % 2 == 1 and i % 7 == 3][:10]
    with sqlite_db.connect() as conn:
        for statement, parameters in seen:
            plan = [row[-1] for row in conn.exec_driver_sql("EXPLAIN QUERY PLAN " + statement, parameters)]
            assert not any(step.startswith(("SCAN", "USE TEMP B-TREE")) for step in plan), (statement, plan)


@pytest.mark.parametrize("page", [1, 7, 1000])
def test_entries_iterate_in_pages(sqlite_db: Engine, signer: NoteSigner, page: int) -> None:
    log = AuditLog(sqlite_db, ORIGIN, signer)
    log.append_batch(
        [EntryDraft("op", "job.started", {"job": f"j{i % 3}"}, {"n": i}) for i in range(20)], NOW
    )
    assert [e.index for e in log.iter_entries(page=page)] == list(range(20))
    assert [e.index for e in log.iter_entries(subject=("job", "j1"), page=page)] == list(range(1, 20, 3))
