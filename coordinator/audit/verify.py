"""Full audit of a stored log: every leaf, every stored subtree hash, every checkpoint and cosignature.

Reads one consistent snapshot as row streams in index order and keeps O(log n) state — the RFC 9162
compact range (the roots of the perfect subtrees left of the next leaf), one page per stream and the next
signed checkpoint — so memory does not grow with the log. Raises TamperError naming the first bad index.
"""

from __future__ import annotations

import contextlib
import heapq
import multiprocessing
from collections import deque
from collections.abc import Generator, Iterable, Iterator, Sequence
from concurrent.futures import Future, ProcessPoolExecutor
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, CursorResult, Engine, Select, func, select

from coordinator.audit.entries import AuditEntry
from coordinator.audit.store import column_bytes, stored_size
from coordinator.audit.tables import CHECKPOINTS, COSIGNATURES, ENTRIES, NODES, SUBJECTS
from protocols.tlog import merkle
from protocols.tlog.checkpoint import WitnessVerifier, parse_checkpoint, verify_cosignature
from protocols.tlog.exceptions import AuditError, TamperError
from protocols.tlog.note import NoteVerifier, open_note, parse_signature_line

PAGE = 1000  # entries per page checked at once, and rows per fetch of the other streams
_PAGE_BYTES = 4 << 20  # entry bytes per page, whatever the row count
# Entry rows per fetch: entries may be large. SQLite reads in process, so one at a time costs little;
# PostgreSQL pays a round trip per fetch.
_ENTRY_FETCH = {"sqlite": 1, "postgresql": 32}
_MIN_NODE_FETCH = 32
_POOL_MIN_PAGES = 8  # worker processes take a second to start: not worth it for a short log
_MAX_LEVEL = 64
_ENTRIES = select(ENTRIES.c.idx, ENTRIES.c.kind, ENTRIES.c.canonical, ENTRIES.c.leaf_hash)
_SUBJECTS = select(SUBJECTS.c.entry_idx, SUBJECTS.c.subject, SUBJECTS.c.value)


@dataclass(frozen=True)
class VerifyReport:
    size: int
    root: bytes
    checkpoints: int
    cosignatures: int
    unknown_cosignatures: int


@dataclass(frozen=True)
class _SignedHead:
    origin: str
    size: int
    root: bytes
    body: str


@dataclass
class _Tally:
    checkpoints: int = 0
    cosigned: int = 0
    unknown: int = 0


def verify_store(
    engine: Engine,
    verifier: NoteVerifier,
    witnesses: Sequence[WitnessVerifier] = (),
    trusted: Sequence[str] = (),
    *,
    page: int = PAGE,
    workers: int = 1,
) -> VerifyReport:
    """Recompute the whole log from its stored bytes; raise TamperError at the first inconsistency.

    ``trusted`` are signed checkpoints kept outside the store (a witness's latest, an earlier audit's);
    they catch a truncation that also removed the newer checkpoints from the store. With ``workers`` > 1
    worker processes decode the entries (the costly part) page by page while this one rebuilds the tree;
    the outcome, first bad index included, is the same.
    """
    outside = sorted((_open_head(note, verifier, None) for note in trusted), key=_size)
    tally = _Tally()
    with _Snapshot.of(engine, page) as snapshot:
        stored = _stored_heads(snapshot, verifier, witnesses, tally)
        heads = _one_origin(heapq.merge(stored, outside, key=_size))
        size, root = _check_log(snapshot, heads, workers)
    return VerifyReport(size, root, tally.checkpoints, tally.cosigned, tally.unknown)


class _Snapshot:
    """One consistent view of a live store (the coordinator may append while we read) and its streams."""

    def __init__(self, conn: Connection, page: int) -> None:
        self.conn, self.page = conn, page
        self.entry_fetch = _ENTRY_FETCH.get(conn.dialect.name, page)
        self._open: list[CursorResult[*tuple[Any, ...]]] = []

    @classmethod
    @contextlib.contextmanager
    def of(cls, engine: Engine, page: int) -> Iterator[_Snapshot]:
        with engine.connect() as conn:
            if engine.dialect.name == "postgresql":
                conn = conn.execution_options(isolation_level="REPEATABLE READ")
            elif engine.dialect.name == "sqlite":
                conn.exec_driver_sql("BEGIN")  # pysqlite would not open a transaction for reads on its own
            snapshot = cls(conn, page)
            try:
                yield snapshot
            finally:  # a find stops reading midway: close the server-side cursors before the connection
                for result in snapshot._open:
                    result.close()

    def stream(
        self, query: Select[*tuple[Any, ...]], fetch: int | None = None
    ) -> CursorResult[*tuple[Any, ...]]:
        """Rows of ``query``, ``fetch`` (default: a page) at a time; a server-side cursor on PostgreSQL."""
        result = self.conn.execute(query.execution_options(yield_per=fetch or self.page))
        self._open.append(result)
        return result


def _size(head: _SignedHead) -> int:
    return head.size


def _open_head(note: str, verifier: NoteVerifier, stored_size: int | None) -> _SignedHead:
    try:
        body = open_note(note, [verifier]).text
        checkpoint = parse_checkpoint(body)
    except AuditError as exc:
        raise TamperError(f"checkpoint: {exc}", index=None, checkpoint_size=stored_size) from exc
    return _SignedHead(checkpoint.origin, checkpoint.size, checkpoint.root_hash, body)


# -- checkpoints and cosignatures -----------------------------------------------------------------
def _stored_heads(
    snapshot: _Snapshot, verifier: NoteVerifier, witnesses: Sequence[WitnessVerifier], tally: _Tally
) -> Iterator[_SignedHead]:
    """Stored checkpoints in size order, each checked with its cosignatures before it is handed on."""
    known = {(w.name, w.key_id): w for w in witnesses}
    by_size = COSIGNATURES.c.size, COSIGNATURES.c.witness, COSIGNATURES.c.key_id
    cosignatures = iter(snapshot.stream(select(COSIGNATURES.c.size, COSIGNATURES.c.line).order_by(*by_size)))
    cosignature = next(cosignatures, None)
    query = select(CHECKPOINTS.c.size, CHECKPOINTS.c.root_hash, CHECKPOINTS.c.note)
    for size, root, note in snapshot.stream(query.order_by(CHECKPOINTS.c.size)):
        head = _open_head(note, verifier, size)
        if (head.size, head.root) != (size, root):
            raise TamperError("checkpoint row disagrees with its note", index=None, checkpoint_size=size)
        if cosignature is not None and cosignature.size < size:
            break  # a cosignature of a checkpoint that is not stored
        while cosignature is not None and cosignature.size == size:
            _check_cosignature(head, cosignature.line, known, tally)
            cosignature = next(cosignatures, None)
        tally.checkpoints += 1
        yield head
    if cosignature is not None:
        raise TamperError("cosignature of a missing checkpoint", index=None, checkpoint_size=cosignature.size)


def _check_cosignature(
    head: _SignedHead, line: str, known: dict[tuple[str, int], WitnessVerifier], tally: _Tally
) -> None:
    """Verify a cosignature from a known witness; count one from another."""
    try:
        sig = parse_signature_line(line.removesuffix("\n"))
        witness = known.get((sig.name, sig.key_id))
        if witness is not None:
            verify_cosignature(head.body, line, witness)
    except AuditError as exc:
        raise TamperError(f"cosignature: {exc}", index=None, checkpoint_size=head.size) from exc
    if witness is None:
        tally.unknown += 1
    else:
        tally.cosigned += 1


def _one_origin(heads: Iterable[_SignedHead]) -> Iterator[_SignedHead]:
    origin = None
    for head in heads:
        if origin is not None and head.origin != origin:
            names = sorted({origin, head.origin})
            raise TamperError(f"checkpoints name several origins: {names}", index=None)
        origin = head.origin
        yield head


# -- entries --------------------------------------------------------------------------------------
# A page of entry rows with the subjects stored for each: (idx, kind, canonical, leaf_hash, subjects).
_Row = tuple[int, Any, Any, Any, dict[str, str]]
# The leaf hashes of a page's entries up to its first bad one, and that one's (index, reason).
_Checked = tuple[list[bytes], tuple[int, str] | None]


def check_entries(first: int, rows: Sequence[_Row]) -> _Checked:
    """Check each entry on its own, from position ``first``: what a worker process does for one page."""
    leaves: list[bytes] = []
    for position, (idx, kind, data, stored_leaf, subjects) in enumerate(rows, first):
        try:
            leaves.append(_check_entry(position, idx, kind, data, stored_leaf, subjects))
        except TamperError as exc:
            return leaves, (position, exc.reason)
    return leaves, None


def _check_entry(
    position: int, idx: int, kind: Any, data: Any, stored_leaf: Any, subjects: dict[str, str]
) -> bytes:
    if idx != position:
        raise TamperError(f"entry {position} is missing (next stored index is {idx})", index=position)
    data = column_bytes(data, position)
    try:
        entry = AuditEntry.from_canonical(data)
    except (AuditError, ValueError) as exc:
        raise TamperError(f"entry bytes: {exc}", index=position) from exc
    if entry.index != position:
        raise TamperError(f"entry at {position} says it is entry {entry.index}", index=position)
    leaf = merkle.leaf_hash(data)
    if leaf != column_bytes(stored_leaf, position):
        raise TamperError("stored leaf hash differs from the entry bytes", index=position)
    if kind != entry.kind or subjects != dict(entry.subjects):
        raise TamperError("kind or subject index differs from the entry bytes", index=position)
    return leaf


class _Subjects:
    """The subject index in entry order, read alongside the entries."""

    def __init__(self, snapshot: _Snapshot) -> None:
        query = _SUBJECTS.where(SUBJECTS.c.entry_idx >= 0)
        self._rows = iter(snapshot.stream(query.order_by(SUBJECTS.c.entry_idx, SUBJECTS.c.subject)))
        self._next = next(self._rows, None)

    def of(self, idx: int) -> dict[str, str]:
        """Subjects stored for entry ``idx``; rows of smaller, missing entries are skipped."""
        found: dict[str, str] = {}
        row = self._next
        while row is not None and row[0] <= idx:
            if row[0] == idx:
                found[row[1]] = row[2]
            row = next(self._rows, None)
        self._next = row
        return found


def _entry_pages(snapshot: _Snapshot) -> Iterator[tuple[int, list[_Row]]]:
    """The entries in index order, each with its position and stored subjects, in pages.

    A page holds at most ``snapshot.page`` rows and about ``_PAGE_BYTES``, so a few huge entries in a
    log cost no more than they must.
    """
    subjects = _Subjects(snapshot)
    query = _ENTRIES.where(ENTRIES.c.idx >= 0).order_by(ENTRIES.c.idx)
    first, rows, size = 0, [], 0
    for i, kind, data, leaf in snapshot.stream(query, fetch=snapshot.entry_fetch):
        data = _plain(data)
        rows.append((i, kind, data, _plain(leaf), subjects.of(i)))
        size += len(data) if isinstance(data, bytes | str) else 0
        if len(rows) == snapshot.page or size >= _PAGE_BYTES:
            yield first, rows
            first, rows, size = first + len(rows), [], 0
    if rows:
        yield first, rows


def _plain(value: Any) -> Any:
    """Driver buffers as bytes, so a page can be sent to a worker; anything else is judged there."""
    return bytes(value) if isinstance(value, memoryview | bytearray) else value


def _checked_pages(snapshot: _Snapshot, workers: int) -> Generator[_Checked, None, None]:
    """Each page checked in order: here, or by worker processes when the log is long enough to pay."""
    pages = _entry_pages(snapshot)
    if workers <= 1 or stored_size(snapshot.conn) < _POOL_MIN_PAGES * snapshot.page:
        yield from (check_entries(first, rows) for first, rows in pages)
        return
    pool = ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("spawn"))
    try:
        window: deque[Future[_Checked]] = deque()
        for first, rows in pages:
            window.append(pool.submit(check_entries, first, rows))
            if len(window) > 2 * workers:  # a bounded window keeps memory flat
                yield window.popleft().result()
        while window:
            yield window.popleft().result()
    finally:
        pool.shutdown(wait=True, cancel_futures=True)


# -- the tree -------------------------------------------------------------------------------------
class _Level:
    """The stored hashes of one tree level, read in index order alongside the recomputation."""

    __slots__ = ("_level", "_next", "_rows")

    def __init__(self, snapshot: _Snapshot, level: int) -> None:
        query = select(NODES.c.idx, NODES.c.hash).where(NODES.c.level == level, NODES.c.idx >= 0)
        self._level = level
        # Level L advances once every 2^L leaves: half the buffer of the level below keeps pace with it.
        fetch = max(_MIN_NODE_FETCH, snapshot.page >> level)
        self._rows = iter(snapshot.stream(query.order_by(NODES.c.idx), fetch=fetch))
        self._next = next(self._rows, None)

    def expect(self, idx: int, want: bytes) -> None:
        got, level = self._next, self._level
        if got is None or got[0] > idx:
            raise TamperError(f"stored subtree hash ({level}, {idx}) is missing", index=idx << level)
        if got[0] < idx:
            raise TamperError(f"unexpected stored subtree hash ({level}, {got[0]})", index=got[0] << level)
        if column_bytes(got[1], idx << level) != want:
            raise TamperError(f"stored subtree hash ({level}, {idx}) is wrong", index=idx << level)
        self._next = next(self._rows, None)


def _check_log(snapshot: _Snapshot, heads: Iterator[_SignedHead], workers: int) -> tuple[int, bytes]:
    """Rebuild the tree leaf by leaf, checking stored subtree hashes and signed roots as they complete."""
    frontier = merkle.Frontier()
    levels: list[_Level] = []
    head, verified_up_to = _check_heads(frontier, next(heads, None), heads, 0)
    with contextlib.closing(_checked_pages(snapshot, workers)) as pages:  # stops the workers on a find
        for leaves, failure in pages:
            for leaf in leaves:
                for (level, idx), want in frontier.append(leaf):
                    if level == len(levels):
                        levels.append(_Level(snapshot, level))
                    levels[level].expect(idx, want)
                if head is not None and head.size == frontier.size:
                    head, verified_up_to = _check_heads(frontier, head, heads, verified_up_to)
            if failure is not None:
                raise TamperError(failure[1], index=failure[0])
    if head is not None:
        raise TamperError(
            f"log has {frontier.size} entries but a checkpoint signed {head.size}",
            index=frontier.size,
            checkpoint_size=head.size,
        )
    _check_no_extra_nodes(snapshot.conn, frontier.size)
    return frontier.size, frontier.root()


def _check_heads(
    frontier: merkle.Frontier, head: _SignedHead | None, heads: Iterator[_SignedHead], verified_up_to: int
) -> tuple[_SignedHead | None, int]:
    """Compare the recomputed root with every checkpoint signed at the current size; return the next."""
    while head is not None and head.size == frontier.size:
        if frontier.root() != head.root:
            raise TamperError(
                f"root differs from the checkpoint at size {head.size}; a change lies in "
                f"[{verified_up_to}, {head.size})",
                index=verified_up_to,
                checkpoint_size=head.size,
            )
        verified_up_to = head.size
        head = next(heads, None)
    return head, verified_up_to


def _check_no_extra_nodes(conn: Connection, size: int) -> None:
    """Stored subtrees reaching past the last entry mean leaves from ``size`` on were removed."""
    extras = []
    for level in range(_MAX_LEVEL):
        first = conn.execute(
            select(func.min(NODES.c.idx)).where(NODES.c.level == level, NODES.c.idx >= size >> level)
        ).scalar()
        if first is not None:
            extras.append((max(int(first) << level, size), level, int(first)))
    if extras:
        index, level, idx = min(extras)
        raise TamperError(f"stored subtree hash ({level}, {idx}) lies beyond the log", index=index)
