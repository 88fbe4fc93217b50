"""The work behind ``dataspace audit verify|show``: local and remote verification, readable trails."""

from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from coordinator.audit.remote import verify_fetched
from coordinator.audit.store import AuditLog
from coordinator.audit.verify import verify_store
from coordinator.client.gateway import GatewayClient
from coordinator.identity import pki
from coordinator.identity.keys import load_log_signer
from coordinator.store.database import Store, make_engine
from protocols.tlog.checkpoint import WitnessVerifier
from protocols.tlog.note import NoteVerifier


def read_trusted(paths: Iterable[Path]) -> list[str]:
    """Signed checkpoints kept outside the store: a note file, or a node's ``witness.json``."""
    notes = []
    for path in paths:
        text = path.read_text()
        notes.append(json.loads(text)["note"] if path.suffix == ".json" else text)
    return notes


def verify_local(data_dir: Path, database_url: str | None, trusted: Iterable[str] = ()) -> str:
    """Verify the store of a coordinator data directory with its own log key and known witness keys.

    ``trusted`` checkpoints (e.g. what a witness node last cosigned) catch a truncation that also
    deleted the later checkpoints from the store.
    """
    verifier = load_log_signer(data_dir, pki.load_ca(data_dir)).verifier()
    store = Store(make_engine(database_url, data_dir))
    witnesses = [WitnessVerifier.from_key_string(row.key) for row in store.witness_keys()]
    report = verify_store(store.engine, verifier, witnesses, trusted=list(trusted))
    store.engine.dispose()
    return (
        f"{report.size} entries, root {report.root.hex()[:16]}…, {report.checkpoints} signed checkpoints, "
        f"{report.cosignatures} cosignatures from {len(witnesses)} witness node(s)"
    )


def verify_remote(
    client: GatewayClient, log_key: str | None, data_dir: Path, trusted: Iterable[str] = ()
) -> str:
    """Fetch entries and checkpoints through the gateway and recompute everything here."""
    with client:
        key = log_key or _local_log_key(data_dir) or client.audit_checkpoint()["log_key"]
        # Checkpoints first: entries appended meanwhile lie beyond every checkpoint we hold.
        notes = client.audit_checkpoints()
        entries = client.audit_entries()
    report = verify_fetched(entries, [*notes, *trusted], NoteVerifier.from_key_string(key))
    return f"{report.size} entries, {report.checkpoints} signed checkpoints ({report.cosigned} cosigned)"


def local_entries(data_dir: Path, database_url: str | None, subject: str | None) -> list[dict[str, Any]]:
    """Entries straight from a coordinator's store (it need not be running)."""
    ca = pki.load_ca(data_dir)
    signer = load_log_signer(data_dir, ca)
    engine = make_engine(database_url, data_dir)
    log = AuditLog(engine, signer.name, signer)
    wanted = tuple(subject.split(":", 1)) if subject else None
    entries = [e.to_json() for e in log.entries(0, 10**9, subject=wanted)]  # type: ignore[arg-type]
    engine.dispose()
    return entries


def render_trail(entries: Iterable[dict[str, Any]]) -> list[str]:
    lines = []
    for entry in entries:
        details = ", ".join(f"{k}={_short(v)}" for k, v in entry["payload"].items())
        lines.append(
            f"#{entry['index']:<5} {entry['time']}  {entry['kind']:<24} by {entry['actor']:<20} {details}"
        )
    return lines or ["(no entries)"]


def _short(value: Any) -> str:
    text = str(value)
    return text if len(text) <= 80 else text[:77] + "..."


def _local_log_key(data_dir: Path) -> str | None:
    if not (data_dir / "log.key").exists():
        return None
    return load_log_signer(data_dir, pki.load_ca(data_dir)).verifier().key_string()
