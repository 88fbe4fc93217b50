"""C2SP signed notes (c2sp.org/signed-note): Ed25519 keys, key strings, signing and strict verification.

Other signature types (such as tlog cosignatures) plug in through the ``Signer``/``Verifier`` protocols.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import ClassVar, Protocol, Self

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from protocols.tlog.exceptions import (
    KeyFormatError,
    MalformedNoteError,
    SignatureError,
    UnverifiedNoteError,
)

ED25519 = 0x01
SIGNATURE_PREFIX = "\u2014 "  # em dash, space
MAX_SIGNATURES = 100
MAX_NOTE_BYTES = 1 << 20
_PRIVATE_PREFIX = "PRIVATE+KEY+"
_HEX_DIGITS = frozenset("0123456789abcdef")


class Signer(Protocol):
    @property
    def name(self) -> str: ...

    @property
    def key_id(self) -> int: ...

    def sign(self, message: bytes) -> bytes: ...


class Verifier(Protocol):
    @property
    def name(self) -> str: ...

    @property
    def key_id(self) -> int: ...

    def verify(self, message: bytes, signature: bytes) -> None:
        """Raise SignatureError unless ``signature`` is valid over ``message``."""
        ...


@dataclass(frozen=True)
class Signature:
    name: str
    key_id: int
    signature: bytes

    def line(self) -> str:
        blob = self.key_id.to_bytes(4, "big") + self.signature
        return f"{SIGNATURE_PREFIX}{self.name} {base64.b64encode(blob).decode()}\n"


@dataclass(frozen=True)
class Note:
    """An opened note: its text, the signatures verified by known keys, and the ones from unknown keys."""

    text: str
    sigs: tuple[Signature, ...]
    unverified_sigs: tuple[Signature, ...] = field(default=())


def b64decode_strict(text: str) -> bytes:
    """Decode standard base64 that re-encodes to the same text (no stray bits, padding or whitespace)."""
    try:
        raw = base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise ValueError("invalid base64") from exc
    if base64.b64encode(raw).decode() != text:
        raise ValueError("non-canonical base64")
    return raw


def is_valid_name(name: str) -> bool:
    return bool(name) and "+" not in name and not any(ch.isspace() for ch in name) and name.isprintable()


def compute_key_id(name: str, key_type: int, public_key: bytes) -> int:
    digest = hashlib.sha256(name.encode() + b"\n" + bytes([key_type]) + public_key).digest()
    return int.from_bytes(digest[:4], "big")


def encode_key(name: str, key_id: int, key_type: int, material: bytes, *, private: bool = False) -> str:
    """``[PRIVATE+KEY+]name+hexkeyid+base64(type || material)``."""
    prefix = _PRIVATE_PREFIX if private else ""
    return f"{prefix}{name}+{key_id:08x}+{base64.b64encode(bytes([key_type]) + material).decode()}"


def decode_key(key: str) -> tuple[str, int, int, bytes]:
    """Split ``name+hexid+base64(type || material)`` into its parts; the key ID is checked by the caller."""
    name, sep, rest = key.partition("+")
    hex_id, sep2, blob = rest.partition("+")
    if not (sep and sep2) or not is_valid_name(name) or len(hex_id) != 8 or set(hex_id) - _HEX_DIGITS:
        raise KeyFormatError("key string must be name+hexkeyid+base64key")
    try:
        key_id = int(hex_id, 16)
        raw = b64decode_strict(blob)
    except ValueError as exc:
        raise KeyFormatError(f"malformed key string: {exc}") from exc
    if len(raw) < 2:
        raise KeyFormatError("key material is missing")
    return name, key_id, raw[0], raw[1:]


def expect_key(key: str, key_type: int, *, private: bool) -> tuple[str, bytes]:
    """Decode a key string of one type, 32 bytes of Ed25519 material; returns (name, material)."""
    if private != key.startswith(_PRIVATE_PREFIX):
        raise KeyFormatError("expected a private key" if private else "expected a public key")
    name, key_id, got_type, material = decode_key(key.removeprefix(_PRIVATE_PREFIX))
    if got_type != key_type or len(material) != 32:
        raise KeyFormatError(f"expected a key of type {key_type:#04x} with 32 bytes of key material")
    public = Ed25519PrivateKey.from_private_bytes(material).public_key() if private else None
    public_raw = public.public_bytes(Encoding.Raw, PublicFormat.Raw) if public else material
    if compute_key_id(name, key_type, public_raw) != key_id:
        raise KeyFormatError("key ID does not match the key")
    return name, material


@dataclass(frozen=True)
class NoteVerifier:
    """An Ed25519 (type 0x01) note verifier; subclasses change the key type and what is verified."""

    KEY_TYPE: ClassVar[int] = ED25519

    name: str
    public_key: bytes

    @classmethod
    def from_key_string(cls, vkey: str) -> Self:
        return cls(*expect_key(vkey, cls.KEY_TYPE, private=False))

    @property
    def key_id(self) -> int:
        return compute_key_id(self.name, self.KEY_TYPE, self.public_key)

    def key_string(self) -> str:
        return encode_key(self.name, self.key_id, self.KEY_TYPE, self.public_key)

    def verify(self, message: bytes, signature: bytes) -> None:
        try:
            Ed25519PublicKey.from_public_bytes(self.public_key).verify(signature, message)
        except InvalidSignature as exc:
            raise SignatureError(f"bad signature from {self.name}") from exc


class NoteSigner:
    """An Ed25519 (type 0x01) note signer; the seed is a parameter so callers own the randomness."""

    def __init__(self, name: str, seed: bytes) -> None:
        if not is_valid_name(name):
            raise KeyFormatError(f"invalid key name {name!r}")
        self._name = name
        self._seed = bytes(seed)
        self._key = Ed25519PrivateKey.from_private_bytes(self._seed)
        self._public = self._key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)

    @classmethod
    def from_key_string(cls, skey: str) -> NoteSigner:
        return cls(*expect_key(skey, ED25519, private=True))

    @property
    def name(self) -> str:
        return self._name

    @property
    def key_id(self) -> int:
        return compute_key_id(self._name, ED25519, self._public)

    def key_string(self) -> str:
        return encode_key(self._name, self.key_id, ED25519, self._seed, private=True)

    def verifier(self) -> NoteVerifier:
        return NoteVerifier(self._name, self._public)

    def sign(self, message: bytes) -> bytes:
        return self._key.sign(message)


def _check_text(text: str) -> None:
    if not text.endswith("\n"):
        raise MalformedNoteError("note text must end in a newline")
    if any(ch < " " and ch != "\n" for ch in text):
        raise MalformedNoteError("note text contains control characters")


def sign_note(text: str, signer: Signer) -> str:
    """Return the signed note: text, a blank line, and the signer's signature line."""
    _check_text(text)
    return text + "\n" + Signature(signer.name, signer.key_id, signer.sign(text.encode())).line()


def parse_signature_line(line: str) -> Signature:
    """One ``— name base64(keyid || sig)`` line, without its newline."""
    if not line.startswith(SIGNATURE_PREFIX):
        raise MalformedNoteError("signature line must start with an em dash and a space")
    name, sep, blob = line.removeprefix(SIGNATURE_PREFIX).partition(" ")
    if not sep or not is_valid_name(name):
        raise MalformedNoteError("malformed signature line")
    try:
        raw = b64decode_strict(blob)
    except ValueError as exc:
        raise MalformedNoteError(f"signature: {exc}") from exc
    if len(raw) < 5:
        raise MalformedNoteError("signature is too short")
    return Signature(name, int.from_bytes(raw[:4], "big"), raw[4:])


def split_note(note: bytes | str) -> tuple[str, list[Signature]]:
    """Text and signatures of a note, checking only its form."""
    if isinstance(note, bytes):
        if len(note) > MAX_NOTE_BYTES:
            raise MalformedNoteError("note is too large")
        try:
            note = note.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise MalformedNoteError("note is not valid UTF-8") from exc
    _check_text(note)
    cut = note.rfind("\n\n")
    if cut < 0:
        raise MalformedNoteError("note has no blank line before its signatures")
    lines = note[cut + 2 : -1].split("\n")
    if len(lines) > MAX_SIGNATURES:
        raise MalformedNoteError("note has too many signatures")
    return note[: cut + 1], [parse_signature_line(line) for line in lines]


def _index_verifiers(verifiers: Iterable[Verifier]) -> dict[tuple[str, int], Verifier]:
    index: dict[tuple[str, int], Verifier] = {}
    for verifier in verifiers:
        key = (verifier.name, verifier.key_id)
        if key in index and index[key] is not verifier:
            raise KeyFormatError(f"two verifiers share name {verifier.name} and key ID {verifier.key_id:08x}")
        index[key] = verifier
    return index


def open_note(note: bytes | str, verifiers: Sequence[Verifier]) -> Note:
    """Check a note's form and signatures; raise unless a known key signed it and none failed."""
    text, sigs = split_note(note)
    known = _index_verifiers(verifiers)
    verified: dict[tuple[str, int], Signature] = {}
    unverified: list[Signature] = []
    for sig in sigs:
        verifier = known.get((sig.name, sig.key_id))
        if verifier is None:
            unverified.append(sig)
            continue
        verifier.verify(text.encode(), sig.signature)
        verified.setdefault((sig.name, sig.key_id), sig)
    if not verified:
        raise UnverifiedNoteError("no signature from a known key")
    return Note(text, tuple(verified.values()), tuple(unverified))
