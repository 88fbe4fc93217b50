"""The node as a witness of the coordinator's audit log: check each new checkpoint, then cosign it.

The node keeps the last checkpoint it cosigned. A new one must be signed by the pinned log key, name the
same origin, and be proven (RFC 9162 consistency proof) to extend the old one; otherwise the coordinator
has forked or rewritten its history and the node raises the alarm instead of cosigning.
"""

from __future__ import annotations

import base64
import json
import secrets
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from protocols.tlog.checkpoint import Checkpoint, WitnessKey, cosign, parse_checkpoint
from protocols.tlog.exceptions import AuditError
from protocols.tlog.merkle import verify_consistency
from protocols.tlog.note import NoteVerifier, open_note


class ForkDetected(Exception):
    """The coordinator showed a checkpoint that does not extend the one this node witnessed."""


class NotVerifiable(Exception):
    """The notice cannot be checked against our state (e.g. a proof from another size); ignore it."""


@dataclass(frozen=True)
class Witnessed:
    size: int
    root: bytes
    note: str


# Roots of the checkpoints cosigned lately, by size: peers' key proofs name one of them. A proof is
# made against the size the coordinator last saw this node cosign, which may lag a few checkpoints behind.
KEPT_ROOTS = 64


def check_notice(
    note: str, from_size: int, proof: list[bytes], last: Witnessed | None, log_key: NoteVerifier
) -> Checkpoint:
    """The checkpoint of a notice, verified against the last one witnessed; raises ForkDetected."""
    try:
        text = open_note(note, [log_key]).text
        checkpoint = parse_checkpoint(text)
    except AuditError as exc:
        raise ForkDetected(f"checkpoint is not signed by the pinned log key or malformed: {exc}") from exc
    if checkpoint.origin != log_key.name:
        raise ForkDetected(f"checkpoint names log {checkpoint.origin!r}, expected {log_key.name!r}")
    if last is None or last.size == 0:
        return checkpoint
    if checkpoint.size < last.size:
        raise ForkDetected(f"log shrank from {last.size} to {checkpoint.size} entries")
    if checkpoint.size == last.size:
        if checkpoint.root_hash != last.root:
            raise ForkDetected(f"two different roots for size {last.size}")
        return checkpoint
    if from_size != last.size:
        raise NotVerifiable(f"proof starts at {from_size}, this node witnessed {last.size}")
    try:
        verify_consistency(last.size, checkpoint.size, last.root, checkpoint.root_hash, proof)
    except AuditError as exc:
        raise ForkDetected(
            f"checkpoint of size {checkpoint.size} does not extend the witnessed size {last.size}: {exc}"
        ) from exc
    return checkpoint


class Witness:
    """Keeps the witness key and the last cosigned checkpoint in the node's identity directory."""

    def __init__(self, directory: Path, participant_id: str, log_key: NoteVerifier) -> None:
        self.key_path, self.state_path = directory / "witness.key", directory / "witness.json"
        if not self.key_path.exists():
            self.key_path.touch(mode=0o600)
            self.key_path.write_bytes(secrets.token_bytes(32))
        self.key = WitnessKey(f"{participant_id}.witness", self.key_path.read_bytes())
        self.log_key = log_key
        self.roots: dict[int, bytes] = {}
        self.last = self._load()

    @property
    def verifier_key(self) -> str:
        return self.key.verifier().key_string()

    @property
    def size(self) -> int:
        return self.last.size if self.last else 0

    def witness(self, note: str, from_size: int, proof: list[bytes], now: datetime) -> tuple[int, str]:
        """Verify and cosign; return (size, cosignature line). Raises ForkDetected or NotVerifiable."""
        checkpoint = check_notice(note, from_size, proof, self.last, self.log_key)
        body = open_note(note, [self.log_key]).text
        line = cosign(body, self.key, now)
        self.last = Witnessed(checkpoint.size, checkpoint.root_hash, note)
        self.roots[checkpoint.size] = checkpoint.root_hash
        for size in sorted(self.roots)[:-KEPT_ROOTS]:
            del self.roots[size]
        self._save()
        return checkpoint.size, line

    def _load(self) -> Witnessed | None:
        if not self.state_path.exists():
            return None
        data = json.loads(self.state_path.read_text())
        last = Witnessed(data["size"], base64.b64decode(data["root"]), data["note"])
        self.roots = {int(size): base64.b64decode(root) for size, root in data.get("roots", {}).items()}
        self.roots[last.size] = last.root
        return last

    def _save(self) -> None:
        assert self.last is not None
        data = {
            "size": self.last.size,
            "root": base64.b64encode(self.last.root).decode(),
            "note": self.last.note,
            "roots": {str(size): base64.b64encode(root).decode() for size, root in self.roots.items()},
        }
        tmp = self.state_path.with_suffix(".tmp")
        tmp.write_text(json.dumps(data))
        tmp.replace(self.state_path)
