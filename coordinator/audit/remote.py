"""Verify a log fetched over the API: recompute every leaf and the root at every signed checkpoint.

Unlike ``verify_store`` this trusts nothing the server computed: it gets the entries and the signed
notes, and checks them against the log key the caller pinned. Both arrive as streams (pages fetched as
they are needed) and only the compact range of the tree is kept, so memory does not grow with the log.
"""

from __future__ import annotations

import heapq
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from coordinator.audit.entries import AuditEntry
from protocols.tlog import merkle
from protocols.tlog.checkpoint import Checkpoint, WitnessVerifier, parse_checkpoint
from protocols.tlog.exceptions import AuditError, TamperError
from protocols.tlog.note import NoteVerifier, open_note

# A checkpoint with the number of witnesses who cosigned it.
_Head = tuple[Checkpoint, int]


@dataclass(frozen=True)
class RemoteReport:
    size: int
    root: bytes
    checkpoints: int
    cosigned: int


@dataclass
class _Count:
    checkpoints: int = 0
    cosigned: int = 0


def verify_fetched(
    entries: Iterable[dict[str, Any]],
    notes: Iterable[str],
    log_key: NoteVerifier,
    witnesses: Sequence[WitnessVerifier] = (),
    trusted: Sequence[str] = (),
) -> RemoteReport:
    """Raise TamperError naming the first bad index; return a summary when everything checks out.

    ``notes`` are the server's checkpoints in size order; ``trusted`` ones kept elsewhere, in any order.
    """
    count = _Count()
    served = _in_size_order(_open(note, log_key, witnesses) for note in notes)
    kept = sorted((_open(note, log_key, witnesses) for note in trusted), key=_size)
    heads = _counted(heapq.merge(served, kept, key=_size), count)
    frontier = merkle.Frontier()
    head = next(heads, None)
    while head is not None and head[0].size == 0:
        if head[0].root_hash != merkle.EMPTY_ROOT:
            raise TamperError("the signed empty log has a non-empty root", index=0, checkpoint_size=0)
        head = next(heads, None)
    for position, item in enumerate(entries):
        frontier.append(_leaf_hash(item, position))
        while head is not None and head[0].size == frontier.size:
            if frontier.root() != head[0].root_hash:
                raise TamperError(
                    f"entries up to {frontier.size} do not hash to the signed checkpoint root",
                    index=frontier.size - 1, checkpoint_size=frontier.size,
                )  # fmt: skip
            head = next(heads, None)
    if head is not None:
        size = head[0].size
        raise TamperError(f"log ends at {frontier.size} entries, a signed checkpoint covers {size}",
                          index=frontier.size, checkpoint_size=size)  # fmt: skip
    return RemoteReport(frontier.size, frontier.root(), count.checkpoints, count.cosigned)


def _size(head: _Head) -> int:
    return head[0].size


def _in_size_order(heads: Iterable[_Head]) -> Iterator[_Head]:
    last = -1
    for head in heads:
        if head[0].size <= last:
            raise TamperError(f"checkpoint {head[0].size} served after checkpoint {last}", index=None)
        last = head[0].size
        yield head


def _counted(heads: Iterable[_Head], count: _Count) -> Iterator[_Head]:
    for head in heads:
        count.checkpoints += 1
        count.cosigned += head[1] > 0
        yield head


def _open(note: str, log_key: NoteVerifier, witnesses: Sequence[WitnessVerifier]) -> _Head:
    try:
        opened = open_note(note, [log_key, *witnesses])
        checkpoint = parse_checkpoint(opened.text)
    except AuditError as exc:
        raise TamperError(f"a checkpoint does not verify with the pinned log key: {exc}", index=None) from exc
    if checkpoint.origin != log_key.name:
        raise TamperError(f"checkpoint of another log {checkpoint.origin!r}", index=None)
    cosigners = sum(1 for sig in opened.sigs if sig.name != log_key.name)
    return checkpoint, cosigners


def _leaf_hash(item: dict[str, Any], position: int) -> bytes:
    try:
        entry = AuditEntry(item["index"], item["time"], item["actor"], item["kind"], item["subjects"],
                           item["payload"])  # fmt: skip
        leaf = entry.leaf_hash()
    except (KeyError, TypeError, AuditError) as exc:
        raise TamperError(f"malformed entry: {exc}", index=position) from exc
    if entry.index != position:
        raise TamperError(f"expected entry {position}, got {entry.index} (missing, inserted or reordered)",
                          index=position)  # fmt: skip
    return leaf
