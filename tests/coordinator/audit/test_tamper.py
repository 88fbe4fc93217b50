"""Raw-SQL tampering with a SQLite audit store; each change must be found, at its first bad index.

Every test runs three ways: the default reading, pages of three rows (a change near a page boundary),
and entries decoded by worker processes — the first bad index must not depend on how the log is read.
"""

from __future__ import annotations

import functools
import sys
from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy import Engine

from coordinator.audit import verify
from coordinator.audit.entries import new_entry
from coordinator.audit.store import AuditLog
from protocols.tlog import merkle
from protocols.tlog.exceptions import TamperError
from protocols.tlog.note import NoteSigner
from tests.coordinator.audit.conftest import ORIGIN

NOW = datetime(2025, 6, 1, tzinfo=UTC)
SIZE = 20
INSERT_ENTRY = (
    "INSERT INTO audit_entries (idx, kind, canonical, leaf_hash) VALUES (:i, 'job.finished', :data, :leaf)"
)


@pytest.fixture(
    autouse=True,
    params=[{}, {"page": 3}, {"page": 2, "workers": 2}],
    ids=["default", "pages-of-3", "workers"],
)
def reading(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    """How ``verify_store`` reads the log in this test."""
    how: dict[str, Any] = request.param
    monkeypatch.setattr(sys.modules[__name__], "verify_store", functools.partial(verify.verify_store, **how))
    return how


verify_store = verify.verify_store


@pytest.fixture
def log(sqlite_db: Engine, signer: NoteSigner) -> AuditLog:
    log = AuditLog(sqlite_db, ORIGIN, signer)
    for i in range(SIZE):
        log.append("op", "job.finished", {"job": f"job-{i}"}, {"rows": i}, NOW)
        if i + 1 in (8, 16):
            log.checkpoint(NOW)
    log.checkpoint(NOW)
    return log


def _sql(engine: Engine, *statements: str, **params: object) -> None:
    with engine.begin() as conn:
        for statement in statements:
            conn.exec_driver_sql(statement, params or None)


def _first_bad(engine: Engine, signer: NoteSigner) -> TamperError:
    with pytest.raises(TamperError) as caught:
        verify_store(engine, signer.verifier())
    return caught.value


def _forged(index: int) -> tuple[bytes, bytes]:
    data = new_entry(
        index, "intruder", "job.finished", {"job": f"job-{index}"}, {"rows": -1}, NOW
    ).canonical_bytes()
    return data, merkle.leaf_hash(data)


def test_untouched_store_verifies(log: AuditLog, sqlite_db: Engine, signer: NoteSigner) -> None:
    report = verify_store(sqlite_db, signer.verifier())
    assert (report.size, report.checkpoints, report.root) == (SIZE, 3, log.root())


def test_edited_bytes(log: AuditLog, sqlite_db: Engine, signer: NoteSigner) -> None:
    _sql(
        sqlite_db,
        "UPDATE audit_entries SET canonical = replace(canonical, '\"rows\":5', '\"rows\":6') WHERE idx = 5",
    )
    assert _first_bad(sqlite_db, signer).index == 5


def test_edited_bytes_with_recomputed_leaf_hash(log: AuditLog, sqlite_db: Engine, signer: NoteSigner) -> None:
    data, leaf = _forged(11)
    _sql(
        sqlite_db,
        "UPDATE audit_entries SET canonical = :data, leaf_hash = :leaf WHERE idx = 11",
        data=data,
        leaf=leaf,
    )
    assert _first_bad(sqlite_db, signer).index == 11


def _rewrite_consistently(log: AuditLog, engine: Engine, index: int) -> None:
    """Replace an entry and recompute every stored hash, as an intruder without the signing key can."""
    data, leaf = _forged(index)
    sql = "UPDATE audit_entries SET canonical = :data, leaf_hash = :leaf WHERE idx = :i"
    _sql(engine, sql, data=data, leaf=leaf, i=index)
    frontier = merkle.Frontier()
    for entry in log.entries(0, SIZE):
        for (level, idx), h in frontier.append(entry.leaf_hash()):
            _sql(
                engine, "UPDATE audit_nodes SET hash = :h WHERE level = :l AND idx = :i", h=h, l=level, i=idx
            )


def test_consistent_rewrite_is_caught_by_the_signed_checkpoint(
    log: AuditLog, sqlite_db: Engine, signer: NoteSigner
) -> None:
    """Rewriting an entry and every stored hash above it leaves only the signatures to catch it."""
    _rewrite_consistently(log, sqlite_db, 10)
    error = _first_bad(sqlite_db, signer)
    assert (error.index, error.checkpoint_size) == (8, 16)  # the change lies after 8, before 16


def test_log_refuses_to_sign_a_rewritten_tree(log: AuditLog, sqlite_db: Engine, signer: NoteSigner) -> None:
    _rewrite_consistently(log, sqlite_db, 10)
    reopened = AuditLog(sqlite_db, ORIGIN, signer)
    reopened.append("op", "job.finished", {}, {}, NOW)
    with pytest.raises(TamperError):
        reopened.checkpoint(NOW)


def test_deleted_entry(log: AuditLog, sqlite_db: Engine, signer: NoteSigner) -> None:
    _sql(
        sqlite_db, "DELETE FROM audit_entries WHERE idx = 7", "DELETE FROM audit_subjects WHERE entry_idx = 7"
    )
    assert _first_bad(sqlite_db, signer).index == 7


def test_inserted_entry(log: AuditLog, sqlite_db: Engine, signer: NoteSigner) -> None:
    shift = (
        "UPDATE {table} SET {col} = -({col} + 1) WHERE {col} >= 12",
        "UPDATE {table} SET {col} = -{col} WHERE {col} < 0",
    )
    for table, col in (("audit_entries", "idx"), ("audit_subjects", "entry_idx")):
        _sql(sqlite_db, *(s.format(table=table, col=col) for s in shift))
    data, leaf = _forged(12)
    _sql(sqlite_db, INSERT_ENTRY, i=12, data=data, leaf=leaf)
    _sql(sqlite_db, "INSERT INTO audit_subjects (entry_idx, subject, value) VALUES (12, 'job', 'job-12')")
    assert _first_bad(sqlite_db, signer).index == 12


def test_appended_row_outside_the_log(log: AuditLog, sqlite_db: Engine, signer: NoteSigner) -> None:
    data, leaf = _forged(SIZE)
    _sql(sqlite_db, INSERT_ENTRY, i=SIZE, data=data, leaf=leaf)
    assert _first_bad(sqlite_db, signer).index == SIZE


def test_swapped_entries(log: AuditLog, sqlite_db: Engine, signer: NoteSigner) -> None:
    _sql(
        sqlite_db,
        "UPDATE audit_entries SET idx = -1 WHERE idx = 3",
        "UPDATE audit_entries SET idx = 3 WHERE idx = 14",
        "UPDATE audit_entries SET idx = 14 WHERE idx = -1",
    )
    assert _first_bad(sqlite_db, signer).index == 3


def test_truncated_tail(log: AuditLog, sqlite_db: Engine, signer: NoteSigner) -> None:
    _sql(
        sqlite_db,
        "DELETE FROM audit_entries WHERE idx >= 17",
        "DELETE FROM audit_subjects WHERE entry_idx >= 17",
        "DELETE FROM audit_nodes WHERE ((idx + 1) << level) > 17",
    )
    error = _first_bad(sqlite_db, signer)
    assert (error.index, error.checkpoint_size) == (17, SIZE)


def test_truncated_tail_without_checkpoint(log: AuditLog, sqlite_db: Engine, signer: NoteSigner) -> None:
    """Entries past the last checkpoint are protected by the stored subtree hashes."""
    _sql(
        sqlite_db,
        "DELETE FROM audit_checkpoints WHERE size = 20",
        "DELETE FROM audit_entries WHERE idx >= 18",
    )
    assert _first_bad(sqlite_db, signer).index == 18


def test_edited_subtree_hash(log: AuditLog, sqlite_db: Engine, signer: NoteSigner) -> None:
    _sql(sqlite_db, "UPDATE audit_nodes SET hash = zeroblob(32) WHERE level = 2 AND idx = 3")
    assert _first_bad(sqlite_db, signer).index == 12


def test_changed_index_columns(log: AuditLog, sqlite_db: Engine, signer: NoteSigner) -> None:
    _sql(sqlite_db, "UPDATE audit_subjects SET value = 'job-99' WHERE entry_idx = 4")
    assert _first_bad(sqlite_db, signer).index == 4


def test_forged_checkpoint_signature(log: AuditLog, sqlite_db: Engine, signer: NoteSigner) -> None:
    _sql(sqlite_db, "UPDATE audit_checkpoints SET note = replace(note, '\n8\n', '\n9\n') WHERE size = 8")
    error = _first_bad(sqlite_db, signer)
    assert (error.index, error.checkpoint_size) == (None, 8)


def test_checkpoint_from_another_key(log: AuditLog, sqlite_db: Engine) -> None:
    with pytest.raises(TamperError) as caught:
        verify_store(sqlite_db, NoteSigner(ORIGIN, bytes(32)).verifier())
    assert caught.value.checkpoint_size == 8


def test_full_truncation_needs_a_checkpoint_kept_elsewhere(
    log: AuditLog, sqlite_db: Engine, signer: NoteSigner
) -> None:
    """A truncation that also removes later checkpoints is consistent in itself; a held note exposes it."""
    kept = log.latest_checkpoint()
    assert kept is not None
    _sql(
        sqlite_db,
        "DELETE FROM audit_entries WHERE idx >= 17",
        "DELETE FROM audit_subjects WHERE entry_idx >= 17",
        "DELETE FROM audit_nodes WHERE ((idx + 1) << level) > 17",
        "DELETE FROM audit_checkpoints WHERE size > 17",
    )
    assert verify_store(sqlite_db, signer.verifier()).size == 17
    with pytest.raises(TamperError) as caught:
        verify_store(sqlite_db, signer.verifier(), trusted=[kept])
    assert (caught.value.index, caught.value.checkpoint_size) == (17, SIZE)
