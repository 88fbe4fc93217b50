"""Remote verification recomputes the log from fetched entries and signed checkpoints only."""

from __future__ import annotations

import copy
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import Engine

from coordinator.audit.remote import verify_fetched
from coordinator.audit.store import AuditLog
from protocols.tlog.exceptions import TamperError
from protocols.tlog.note import NoteSigner

from .conftest import ORIGIN

T0 = datetime(2026, 11, 29, 8, 0, tzinfo=UTC)


def _log(engine: Engine, signer: NoteSigner, size: int) -> tuple[list[dict[str, object]], list[str]]:
    log = AuditLog(engine, ORIGIN, signer)
    log.checkpoint(T0)  # the empty log is signed too
    for i in range(size):
        log.append("operator", "job.submitted", {"job": f"j{i}"}, {"n": i}, T0 + timedelta(seconds=i))
        if i % 4 == 3:
            log.checkpoint(T0 + timedelta(seconds=i))
    return [e.to_json() for e in log.entries(0, 1000)], log.all_checkpoints()


def test_fetched_log_verifies(sqlite_db: Engine, signer: NoteSigner) -> None:
    entries, notes = _log(sqlite_db, signer, 10)
    report = verify_fetched(entries, notes, signer.verifier())
    assert (report.size, report.checkpoints) == (10, 3)


@pytest.mark.parametrize(
    ("mutate", "index"),
    [
        (lambda es: es[5]["payload"].update(n=99), 7),  # edited: caught at the next checkpoint (size 8)
        (lambda es: es.pop(2), 2),  # deleted
        (lambda es: es.insert(3, copy.deepcopy(es[3])), 4),  # inserted: a second entry claiming index 3
        (lambda es: es.__setitem__(slice(1, 3), [es[2], es[1]]), 1),  # reordered
        (lambda es: es.__delitem__(slice(6, None)), 6),  # truncated below a signed checkpoint
    ],
    ids=["edit", "delete", "insert", "reorder", "truncate"],
)
def test_tampered_fetch_names_the_first_bad_index(
    sqlite_db: Engine, signer: NoteSigner, mutate, index
) -> None:  # type: ignore[no-untyped-def]
    entries, notes = _log(sqlite_db, signer, 10)
    mutate(entries)
    with pytest.raises(TamperError) as caught:
        verify_fetched(entries, notes, signer.verifier())
    assert caught.value.index == index


def test_checkpoint_from_another_key_is_rejected(sqlite_db: Engine, signer: NoteSigner) -> None:
    entries, notes = _log(sqlite_db, signer, 4)
    impostor = NoteSigner(ORIGIN, bytes(32))
    with pytest.raises(TamperError):
        verify_fetched(entries, notes, impostor.verifier())
