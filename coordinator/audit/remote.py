"""Verify a log fetched over the API: recompute every leaf and the root at every signed checkpoint.

Unlike ``verify_store`` this trusts nothing the server computed: it gets the entries and the signed
notes, and checks them against the log key the caller pinned.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from coordinator.audit.entries import AuditEntry
from protocols.tlog import merkle
from protocols.tlog.checkpoint import Checkpoint, WitnessVerifier, parse_checkpoint
from protocols.tlog.exceptions import AuditError, TamperError
from protocols.tlog.note import NoteVerifier, open_note


@dataclass(frozen=True)
class RemoteReport:
    size: int
    root: bytes
    checkpoints: int
    cosigned: int


def verify_fetched(
    entries: Iterable[dict[str, Any]],
    notes: Sequence[str],
    log_key: NoteVerifier,
    witnesses: Sequence[WitnessVerifier] = (),
) -> RemoteReport:
    """Raise TamperError naming the first bad index; return a summary when everything checks out."""
    heads = sorted((_open(note, log_key, witnesses) for note in notes), key=lambda h: h[0].size)
    frontier = merkle.Frontier()
    pending = list(heads)
    while pending and pending[0][0].size == 0:
        if pending.pop(0)[0].root_hash != merkle.EMPTY_ROOT:
            raise TamperError("the signed empty log has a non-empty root", index=0, checkpoint_size=0)
    for position, item in enumerate(entries):
        entry = _entry(item, position)
        frontier.append(entry.leaf_hash())
        while pending and pending[0][0].size == frontier.size:
            head, _ = pending.pop(0)
            if frontier.root() != head.root_hash:
                raise TamperError(
                    f"entries up to {head.size} do not hash to the signed checkpoint root",
                    index=head.size - 1, checkpoint_size=head.size,
                )  # fmt: skip
    if pending:
        size = pending[0][0].size
        raise TamperError(f"log ends at {frontier.size} entries, a signed checkpoint covers {size}",
                          index=frontier.size, checkpoint_size=size)  # fmt: skip
    return RemoteReport(frontier.size, frontier.root(), len(heads), sum(1 for _, n in heads if n))


def _open(note: str, log_key: NoteVerifier, witnesses: Sequence[WitnessVerifier]) -> tuple[Checkpoint, int]:
    try:
        opened = open_note(note, [log_key, *witnesses])
        checkpoint = parse_checkpoint(opened.text)
    except AuditError as exc:
        raise TamperError(f"a checkpoint does not verify with the pinned log key: {exc}", index=None) from exc
    if checkpoint.origin != log_key.name:
        raise TamperError(f"checkpoint of another log {checkpoint.origin!r}", index=None)
    cosigners = sum(1 for sig in opened.sigs if sig.name != log_key.name)
    return checkpoint, cosigners


def _entry(item: dict[str, Any], position: int) -> AuditEntry:
    try:
        entry = AuditEntry(item["index"], item["time"], item["actor"], item["kind"], item["subjects"],
                           item["payload"])  # fmt: skip
    except (KeyError, TypeError, AuditError) as exc:
        raise TamperError(f"malformed entry: {exc}", index=position) from exc
    if entry.index != position:
        raise TamperError(f"expected entry {position}, got {entry.index} (missing, inserted or reordered)",
                          index=position)  # fmt: skip
    return entry
