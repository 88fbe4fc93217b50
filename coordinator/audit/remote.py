"""Verify a log fetched over the API: recompute every leaf and the root at every signed checkpoint.

Unlike ``verify_store`` this trusts nothing the server computed: it gets the entries and the signed
notes, and checks them against the log key the caller pinned — every checkpoint must carry that key's
signature, whatever cosignatures it has — and, if asked, against witness keys whose cosignatures the newest
checkpoint must carry. Both arrive as streams (pages fetched as they are needed) and only the compact range
of the tree is kept, so memory does not grow with the log.
"""

from __future__ import annotations

import heapq
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from coordinator.audit.entries import AuditEntry
from protocols.tlog import merkle
from protocols.tlog.checkpoint import Checkpoint, WitnessVerifier, open_checkpoint
from protocols.tlog.exceptions import AuditError, MissingCosignatureError, TamperError
from protocols.tlog.note import NoteVerifier

# A checkpoint with the names of the known witnesses whose cosignatures on it verify.
_Head = tuple[Checkpoint, frozenset[str]]


@dataclass(frozen=True)
class RemoteReport:
    size: int
    root: bytes
    checkpoints: int
    cosigned: int
    newest_cosigners: tuple[str, ...] = ()  # known witnesses who cosigned the newest checkpoint


@dataclass
class _Count:
    checkpoints: int = 0
    cosigned: int = 0
    newest: int = -1
    newest_cosigners: set[str] = field(default_factory=set)


def verify_fetched(
    entries: Iterable[dict[str, Any]],
    notes: Iterable[str],
    log_key: NoteVerifier,
    witnesses: Sequence[WitnessVerifier] = (),
    trusted: Sequence[str] = (),
    *,
    min_cosignatures: int = 0,
) -> RemoteReport:
    """Raise TamperError naming the first bad index; return a summary when everything checks out.

    ``notes`` are the server's checkpoints in size order; ``trusted`` ones kept elsewhere, in any order.
    The newest checkpoint must carry valid cosignatures from at least ``min_cosignatures`` of
    ``witnesses``, or MissingCosignatureError names the witnesses that did not cosign it.
    """
    if not 0 <= min_cosignatures <= len(witnesses):
        raise ValueError(f"cannot ask for {min_cosignatures} cosignatures from {len(witnesses)} witness keys")
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
    cosigners = tuple(sorted(count.newest_cosigners))
    if len(cosigners) < min_cosignatures:
        missing = tuple(sorted({w.name for w in witnesses} - count.newest_cosigners))
        raise MissingCosignatureError(
            f"the newest checkpoint (size {count.newest}) has {len(cosigners)} of the {min_cosignatures} "
            f"cosignatures asked for; not cosigned by: {', '.join(missing)}",
            size=count.newest if count.newest >= 0 else None, missing=missing,
        )  # fmt: skip
    return RemoteReport(frontier.size, frontier.root(), count.checkpoints, count.cosigned, cosigners)


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
        count.cosigned += bool(head[1])
        if head[0].size > count.newest:  # a trusted note of the same size adds its cosigners
            count.newest, count.newest_cosigners = head[0].size, set()
        count.newest_cosigners |= head[1]
        yield head


def _open(note: str, log_key: NoteVerifier, witnesses: Sequence[WitnessVerifier]) -> _Head:
    try:
        checkpoint, cosignatures = open_checkpoint(note, log_key, witnesses)
    except AuditError as exc:
        raise TamperError(f"a checkpoint does not verify with the pinned log key: {exc}", index=None) from exc
    return checkpoint, frozenset(sig.name for sig in cosignatures)


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
