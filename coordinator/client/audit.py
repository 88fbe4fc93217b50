"""The work behind ``dataspace audit verify|show``: local and remote verification, readable trails.

Both read the log a page at a time, so neither the coordinator's store nor the gateway is ever asked for
the whole log at once. Neither creates anything: a data directory without a coordinator database is refused.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, inspect

from coordinator.audit.remote import verify_fetched
from coordinator.audit.store import AuditReader
from coordinator.audit.tables import ENTRIES
from coordinator.audit.verify import verify_store
from coordinator.client.gateway import GatewayClient
from coordinator.identity import pki
from coordinator.identity.keys import log_origin
from coordinator.store.database import make_engine
from coordinator.store.tables import WitnessKeyRow
from protocols.tlog.checkpoint import WitnessVerifier, parse_checkpoint
from protocols.tlog.exceptions import AuditError, TamperError
from protocols.tlog.note import NoteSigner, NoteVerifier, split_note

PAGE = 1000  # entries or checkpoints per gateway request (the gateway's maximum)
SQLITE_FILE = "coordinator.db"  # where ``make_engine`` keeps the store of a data directory


class NoCoordinatorDatabaseError(FileNotFoundError):
    """The data directory or database URL holds no coordinator store; nothing was created."""


class NoTrustAnchorError(ValueError):
    """Remote verification was given no log key of its own choosing; the server's is never taken."""


def pinned_log_key(log_key: str | None, node_dir: Path | None) -> tuple[str, str]:
    """The log key to verify a gateway against, and where it came from; never from the gateway itself.

    ``--log-key``, or the key a node pinned at enrollment (``NODE_DIR/identity/coordinator.json``); with
    neither, NoTrustAnchorError: there is no silent trust on first use, not even of a local file.
    """
    if log_key is not None and node_dir is not None and log_key != _node_log_key(node_dir):
        raise NoTrustAnchorError(f"--log-key differs from the log key pinned by the node in {node_dir}")
    if log_key is not None:
        return log_key, "--log-key"
    if node_dir is not None:
        return _node_log_key(node_dir), f"pinned by the node in {node_dir}"
    raise NoTrustAnchorError(
        "remote verification needs a log key you trust, not the one the server offers: pass --log-key KEY "
        "or --node-dir DIR (a node enrolled with this coordinator)"
    )


def _node_log_key(node_dir: Path) -> str:
    info = node_dir / "identity" / "coordinator.json"
    try:
        return str(json.loads(info.read_text())["log_key"])
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise NoTrustAnchorError(f"{node_dir} holds no pinned log key ({info}: {exc})") from exc


def read_trusted(paths: Iterable[Path]) -> list[str]:
    """Signed checkpoints kept outside the store: a note file, or a node's ``witness.json``."""
    notes = []
    for path in paths:
        text = path.read_text()
        notes.append(json.loads(text)["note"] if path.suffix == ".json" else text)
    return notes


def open_store(data_dir: Path, database_url: str | None) -> Engine:
    """The coordinator database of a data directory (SQLite) or at ``database_url``, never a new one."""
    if not database_url and not (data_dir / SQLITE_FILE).is_file():
        raise NoCoordinatorDatabaseError(
            f"{data_dir} holds no coordinator database ({SQLITE_FILE}); for a coordinator on PostgreSQL "
            "pass --database-url or set DATASPACE_DATABASE_URL"
        )
    engine = make_engine(database_url, data_dir)
    if not inspect(engine).has_table(ENTRIES.name):
        engine.dispose()
        where = "the database at --database-url" if database_url else str(data_dir / SQLITE_FILE)
        raise NoCoordinatorDatabaseError(f"{where} holds no audit log (no table {ENTRIES.name})")
    return engine


def verify_local(
    data_dir: Path, database_url: str | None, trusted: Iterable[str] = (), workers: int | None = None
) -> str:
    """Verify the store of a coordinator data directory with its own log key and known witness keys.

    ``trusted`` checkpoints (e.g. what a witness node last cosigned) catch a truncation that also
    deleted the later checkpoints from the store. ``workers`` processes decode entries (default: one per
    CPU).
    """
    verifier = _log_signer(data_dir).verifier()
    engine = open_store(data_dir, database_url)
    try:
        witnesses = [WitnessVerifier.from_key_string(key) for key in _witness_keys(engine)]
        workers = workers or _usable_cpus()
        report = verify_store(engine, verifier, witnesses, trusted=list(trusted), workers=workers)
    finally:
        engine.dispose()
    return (
        f"{report.size} entries, root {report.root.hex()[:16]}…, {report.checkpoints} signed checkpoints, "
        f"{report.cosignatures} cosignatures from {len(witnesses)} witness node(s)"
    )


def verify_remote(
    client: GatewayClient,
    log_key: str,
    trusted: Iterable[str] = (),
    witnesses: Sequence[str] = (),
    min_cosignatures: int | None = None,
) -> str:
    """Fetch entries and checkpoints through the gateway page by page and recompute everything here.

    Every checkpoint must be signed by ``log_key``; the newest must be cosigned by ``min_cosignatures``
    (default: all) of the ``witnesses`` (witness verifier keys).
    """
    verifier = NoteVerifier.from_key_string(log_key)
    known = [WitnessVerifier.from_key_string(key) for key in witnesses]
    wanted = len(known) if min_cosignatures is None else min_cosignatures
    with client:
        if wanted > len(known):  # checked in here, so that the client is closed
            raise NoTrustAnchorError(f"--min-cosignatures {wanted} needs at least {wanted} --witness keys")
        # Only checkpoints up to the newest one now: entries appended meanwhile lie beyond all of them.
        newest = _note_size(client.audit_checkpoint()["note"])
        if newest is None:
            raise TamperError("the newest checkpoint the gateway serves is malformed", index=None)
        notes = _checkpoint_pages(client, newest)
        report = verify_fetched(
            remote_entries(client), notes, verifier, known, list(trusted), min_cosignatures=wanted
        )
    summary = f"{report.size} entries, {report.checkpoints} signed checkpoints"
    if not known:  # cosignatures by keys the gateway names would prove nothing: say so, do not count them
        return summary + "; cosignatures not checked (give --witness KEY for each witness node you trust)"
    summary += f" ({report.cosigned} cosigned by the {len(known)} witness key(s) given)"
    if report.newest_cosigners:
        summary += f"; the newest cosigned by {', '.join(report.newest_cosigners)}"
    return summary


def remote_entries(client: GatewayClient, subject: str | None = None) -> Iterator[dict[str, Any]]:
    """Entries through the gateway in index order, a page per request, each page from the last index."""
    start = 0
    while True:
        params: dict[str, Any] = {"start": start, "limit": PAGE}
        if subject is not None:
            params["subject"] = subject
        # The client's public audit_entries() gathers everything into one list; this pages lazily.
        page = client._call("GET", "/api/v1/audit/entries", params=params)["entries"]
        yield from page
        if len(page) < PAGE:
            return
        start = int(page[-1]["index"]) + 1


def _checkpoint_pages(client: GatewayClient, up_to: int) -> Iterator[str]:
    """Signed checkpoints of sizes up to ``up_to``, in pages; their signatures are checked downstream."""
    start = 0
    while start <= up_to:
        notes = client._call("GET", "/api/v1/audit/checkpoints", params={"start": start, "limit": PAGE})[
            "notes"
        ]
        for note in notes:
            size = _note_size(note)
            if size is not None and size > up_to:
                return
            yield note  # the verifier stops at a malformed one, so it is never asked past it
            if size is None:
                return
            start = size + 1
        if len(notes) < PAGE:
            return


def _note_size(note: str) -> int | None:
    try:
        return parse_checkpoint(split_note(note)[0]).size
    except AuditError:
        return None


def local_entries(data_dir: Path, database_url: str | None, subject: str | None) -> Iterator[dict[str, Any]]:
    """Entries straight from a coordinator's store (it need not be running), read a page at a time."""
    engine = open_store(data_dir, database_url)
    wanted = _parse_subject(subject)
    try:
        yield from (entry.to_json() for entry in AuditReader(engine).iter_entries(subject=wanted))
    finally:
        engine.dispose()


def render_trail(entries: Iterable[dict[str, Any]]) -> list[str]:
    return [trail_line(entry) for entry in entries] or ["(no entries)"]


def trail_line(entry: dict[str, Any]) -> str:
    details = ", ".join(f"{k}={_short(v)}" for k, v in entry["payload"].items())
    return f"#{entry['index']:<5} {entry['time']}  {entry['kind']:<24} by {entry['actor']:<20} {details}"


def _parse_subject(subject: str | None) -> tuple[str, str] | None:
    if subject is None:
        return None
    kind, _, value = subject.partition(":")
    return kind, value


def _short(value: Any) -> str:
    text = str(value)
    return text if len(text) <= 80 else text[:77] + "..."


def _log_signer(data_dir: Path) -> NoteSigner:
    """The log key of a data directory, read without creating one (``load_log_signer`` would)."""
    return NoteSigner(log_origin(pki.load_ca(data_dir)), (data_dir / "log.key").read_bytes())


def _witness_keys(engine: Engine) -> list[str]:
    """Witness keys the coordinator registered; read directly so that opening the store creates nothing."""
    table = WitnessKeyRow.__table__  # type: ignore[attr-defined]
    if not inspect(engine).has_table(table.name):
        return []
    with engine.connect() as conn:
        return [str(key) for key in conn.execute(table.select().with_only_columns(table.c.key)).scalars()]


def _usable_cpus() -> int:
    """CPUs this process may run on (``os.cpu_count`` counts the machine's)."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
