"""Checkpoints (c2sp.org/tlog-checkpoint) and Ed25519 witness cosignatures (c2sp.org/tlog-cosignature).

A checkpoint body is the note text a log signs; a cosignature is one more note signature line from a witness.
"""

from __future__ import annotations

import base64
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import ClassVar

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from protocols.tlog.exceptions import CheckpointError, KeyFormatError, SignatureError, UnverifiedNoteError
from protocols.tlog.merkle import HASH_SIZE
from protocols.tlog.note import (
    NoteVerifier,
    Signature,
    b64decode_strict,
    encode_key,
    expect_key,
    is_valid_name,
    open_note,
    parse_signature_line,
)

COSIGNATURE = 0x04
MAX_TIMESTAMP = (1 << 63) - 1
MAX_TREE_SIZE = (1 << 64) - 1
_DECIMAL = re.compile(r"0|[1-9][0-9]*")


@dataclass(frozen=True)
class Checkpoint:
    origin: str
    size: int
    root_hash: bytes
    extensions: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        lines = (self.origin, *self.extensions)
        if any(not line or "\n" in line or not line.isprintable() for line in lines):
            raise CheckpointError("origin and extension lines must be non-empty printable single lines")
        if not 0 <= self.size <= MAX_TREE_SIZE:
            raise CheckpointError(f"tree size {self.size} out of range")
        if len(self.root_hash) != HASH_SIZE:
            raise CheckpointError(f"root hash must be {HASH_SIZE} bytes")


def format_checkpoint(checkpoint: Checkpoint) -> str:
    lines = [checkpoint.origin, str(checkpoint.size), base64.b64encode(checkpoint.root_hash).decode()]
    return "\n".join([*lines, *checkpoint.extensions]) + "\n"


def parse_checkpoint(body: str) -> Checkpoint:
    """Strictly parse a checkpoint body (the note text, ending in a newline)."""
    if not body.endswith("\n"):
        raise CheckpointError("checkpoint must end in a newline")
    lines = body[:-1].split("\n")
    if len(lines) < 3:
        raise CheckpointError("checkpoint needs origin, size and root hash lines")
    origin, size_text, root_text, *extensions = lines
    if not _DECIMAL.fullmatch(size_text):
        raise CheckpointError(f"tree size {size_text!r} is not a plain decimal")
    try:
        root = b64decode_strict(root_text)
    except ValueError as exc:
        raise CheckpointError(f"root hash: {exc}") from exc
    return Checkpoint(origin, int(size_text), root, tuple(extensions))


def cosigned_message(checkpoint_body: str, timestamp: int) -> bytes:
    """Build what an Ed25519 witness signs: a header line, a time line, then the checkpoint body."""
    return f"cosignature/v1\ntime {timestamp}\n{checkpoint_body}".encode()


@dataclass(frozen=True)
class WitnessVerifier(NoteVerifier):
    """A witness's Ed25519 cosignature key (signature type 0x04); usable as a note ``Verifier``."""

    KEY_TYPE: ClassVar[int] = COSIGNATURE

    def verify(self, message: bytes, signature: bytes) -> None:
        """Check a ``timestamp || ed25519 signature`` blob over a checkpoint body."""
        timestamp = cosignature_timestamp(signature)
        signed = cosigned_message(message.decode(), timestamp)
        try:
            Ed25519PublicKey.from_public_bytes(self.public_key).verify(signature[8:], signed)
        except InvalidSignature as exc:
            raise SignatureError(f"bad cosignature from {self.name}") from exc


class WitnessKey:
    """A witness's private cosigning key; the seed is a parameter so callers own the randomness."""

    def __init__(self, name: str, seed: bytes) -> None:
        if not is_valid_name(name):
            raise KeyFormatError(f"invalid key name {name!r}")
        self._name = name
        self._seed = bytes(seed)
        self._key = Ed25519PrivateKey.from_private_bytes(self._seed)

    @classmethod
    def from_key_string(cls, skey: str) -> WitnessKey:
        return cls(*expect_key(skey, COSIGNATURE, private=True))

    @property
    def name(self) -> str:
        return self._name

    def verifier(self) -> WitnessVerifier:
        return WitnessVerifier(
            self._name, self._key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
        )

    def key_string(self) -> str:
        return encode_key(self._name, self.verifier().key_id, COSIGNATURE, self._seed, private=True)

    def sign_at(self, checkpoint_body: str, timestamp: int) -> bytes:
        if not 0 <= timestamp <= MAX_TIMESTAMP:
            raise ValueError("cosignature timestamp out of range")
        signed = cosigned_message(checkpoint_body, timestamp)
        return timestamp.to_bytes(8, "big") + self._key.sign(signed)


def cosignature_timestamp(signature: bytes) -> int:
    """Return the POSIX time carried by a cosignature blob (the part after its key ID)."""
    if len(signature) != 8 + 64:
        raise SignatureError("a cosignature is an 8-byte timestamp and a 64-byte signature")
    timestamp = int.from_bytes(signature[:8], "big")
    if timestamp > MAX_TIMESTAMP:
        raise SignatureError("cosignature timestamp out of range")
    return timestamp


def _unix_seconds(now: datetime) -> int:
    if now.tzinfo is None:
        raise ValueError("now must be timezone-aware")
    return int(now.timestamp())


def cosign(checkpoint_body: str, witness_key: WitnessKey, now: datetime) -> str:
    """Return the witness's signature line (with its newline) over a checkpoint body, stamped ``now``."""
    parse_checkpoint(checkpoint_body)
    verifier = witness_key.verifier()
    blob = witness_key.sign_at(checkpoint_body, _unix_seconds(now))
    return Signature(verifier.name, verifier.key_id, blob).line()


def verify_cosignature(checkpoint_body: str, signature_line: str, witness: WitnessVerifier) -> None:
    """Raise unless the line is ``witness``'s valid cosignature over the checkpoint body."""
    sig = parse_signature_line(signature_line.removesuffix("\n"))
    if (sig.name, sig.key_id) != (witness.name, witness.key_id):
        raise SignatureError(f"signature line is not from witness {witness.name}")
    parse_checkpoint(checkpoint_body)
    witness.verify(checkpoint_body.encode(), sig.signature)


def open_checkpoint(
    note: str, log_key: NoteVerifier, witnesses: Sequence[WitnessVerifier] = ()
) -> tuple[Checkpoint, tuple[Signature, ...]]:
    """The checkpoint of a note and the verified cosignatures of ``witnesses`` on it.

    Raises unless ``log_key`` signed the note and the checkpoint names that log: cosignatures alone, however
    many, never make a checkpoint the log's.
    """
    opened = open_note(note, [log_key, *witnesses])
    own = (log_key.name, log_key.key_id)
    if not any((sig.name, sig.key_id) == own for sig in opened.sigs):
        raise UnverifiedNoteError(f"checkpoint is not signed by the log key {log_key.name}")
    checkpoint = parse_checkpoint(opened.text)
    if checkpoint.origin != log_key.name:
        raise CheckpointError(f"checkpoint of another log {checkpoint.origin!r}, expected {log_key.name!r}")
    return checkpoint, tuple(sig for sig in opened.sigs if (sig.name, sig.key_id) != own)
