"""Remote verification recomputes the log from fetched entries and signed checkpoints only."""

from __future__ import annotations

import copy
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import Engine

from coordinator.audit.entries import AuditEntry
from coordinator.audit.remote import verify_fetched
from coordinator.audit.store import AuditLog
from protocols.tlog import merkle
from protocols.tlog.checkpoint import Checkpoint, WitnessKey, cosign, format_checkpoint, parse_checkpoint
from protocols.tlog.exceptions import MissingCosignatureError, TamperError
from protocols.tlog.note import NoteSigner, split_note

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


def _forged_by_witness(entries: list[dict[str, object]], notes: list[str], witness: WitnessKey) -> list[str]:
    """Checkpoints over ``entries`` at the sizes of ``notes``, signed by a witness only: no log signature."""
    roots, frontier = {0: merkle.EMPTY_ROOT}, merkle.Frontier()
    for item in entries:
        frontier.append(AuditEntry(**{k: item[k] for k in _FIELDS}).leaf_hash())  # type: ignore[arg-type]
        roots[frontier.size] = frontier.root()
    forged = []
    for note in notes:
        size = parse_checkpoint(split_note(note)[0]).size
        body = format_checkpoint(Checkpoint(ORIGIN, size, roots[size]))
        forged.append(body + "\n" + cosign(body, witness, T0))
    return forged


_FIELDS = ("index", "time", "actor", "kind", "subjects", "payload")


def test_checkpoint_signed_only_by_a_witness_is_rejected(sqlite_db: Engine, signer: NoteSigner) -> None:
    """A factory rewrites an entry and signs matching checkpoints with its witness key, not the log's."""
    entries, notes = _log(sqlite_db, signer, 8)
    witness = WitnessKey("factory-1.witness", bytes(range(1, 33)))
    entries[5]["payload"] = {"n": 99}
    forged = _forged_by_witness(entries, notes, witness)
    with pytest.raises(TamperError, match="not signed by the log key"):
        verify_fetched(entries, forged, signer.verifier(), [witness.verifier()])


W1 = WitnessKey("factory-1.witness", bytes(range(1, 33)))
W2 = WitnessKey("factory-2.witness", bytes(range(2, 34)))


def _cosigned(engine: Engine, signer: NoteSigner) -> tuple[list[dict[str, object]], list[str]]:
    """Eight entries; factory-2 cosigned only the checkpoint at 4, factory-1 also the newest (8)."""
    _log(engine, signer, 8)
    log = AuditLog(engine, ORIGIN, signer)
    for witness, size in ((W2, 4), (W1, 4), (W1, 8)):
        body = split_note(log.checkpoint_at(size))[0]
        log.add_cosignature(size, cosign(body, witness, T0), witness.verifier())
    return [e.to_json() for e in log.entries(0, 1000)], log.all_checkpoints()


def test_newest_checkpoint_must_carry_the_cosignatures_asked_for(
    sqlite_db: Engine, signer: NoteSigner
) -> None:
    entries, notes = _cosigned(sqlite_db, signer)
    both = [W1.verifier(), W2.verifier()]
    report = verify_fetched(entries, notes, signer.verifier(), both, min_cosignatures=1)
    assert report.newest_cosigners == ("factory-1.witness",)
    with pytest.raises(MissingCosignatureError) as caught:  # an older cosignature does not vouch for 8
        verify_fetched(entries, notes, signer.verifier(), both, min_cosignatures=2)
    assert (caught.value.size, caught.value.missing) == (8, ("factory-2.witness",))
    with pytest.raises(ValueError):
        verify_fetched(entries, notes, signer.verifier(), both, min_cosignatures=3)


def test_cosignatures_of_unknown_witnesses_do_not_count(sqlite_db: Engine, signer: NoteSigner) -> None:
    entries, notes = _cosigned(sqlite_db, signer)
    with pytest.raises(MissingCosignatureError, match=r"factory-2\.witness"):
        verify_fetched(entries, notes, signer.verifier(), [W2.verifier()], min_cosignatures=1)
