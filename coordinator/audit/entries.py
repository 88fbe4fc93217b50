"""Audit entries and their canonical JSON form (RFC 8785); a Merkle leaf is exactly those bytes.

An entry's bytes are made by ``contracts.canonical`` and proven to decode back into the same entry before
anyone may append them, so the log never holds a leaf that its readers would refuse.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from contracts.canonical import CanonicalError, canonical, parse_canonical
from protocols.tlog.exceptions import EntryError
from protocols.tlog.merkle import leaf_hash

# Column widths of the look-up indexes in tables.py.
MAX_KIND = 64
MAX_LABEL = 255
_FIELDS = frozenset({"index", "time", "actor", "kind", "subjects", "payload"})
_RFC3339_UTC = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,6})?Z")


def format_time(now: datetime) -> str:
    """RFC 3339 in UTC with a ``Z``; microseconds only when there are any."""
    if now.tzinfo is None:
        raise EntryError("audit times must be timezone-aware")
    utc = now.astimezone(UTC)
    fraction = f".{utc.microsecond:06d}" if utc.microsecond else ""
    return utc.strftime("%Y-%m-%dT%H:%M:%S") + fraction + "Z"


def _check_label(value: object, what: str, max_length: int) -> str:
    if not isinstance(value, str) or not value or not value.isprintable() or len(value) > max_length:
        raise EntryError(f"{what} must be a printable string of 1 to {max_length} characters")
    return value


@dataclass(frozen=True)
class AuditEntry:
    index: int
    time: str
    actor: str
    kind: str
    subjects: Mapping[str, str]
    payload: Mapping[str, Any]

    def __post_init__(self) -> None:
        if isinstance(self.index, bool) or not isinstance(self.index, int) or self.index < 0:
            raise EntryError("index must be a non-negative integer")
        if not isinstance(self.time, str) or not _RFC3339_UTC.fullmatch(self.time):
            raise EntryError(f"time {self.time!r} is not RFC 3339 UTC")
        _check_label(self.actor, "actor", MAX_LABEL)
        _check_label(self.kind, "kind", MAX_KIND)
        if not isinstance(self.subjects, Mapping) or not isinstance(self.payload, Mapping):
            raise EntryError("subjects and payload must be JSON objects")
        for key, value in self.subjects.items():
            _check_label(key, "subject kind", MAX_KIND)
            _check_label(value, f"subject {key}", MAX_LABEL)

    def to_json(self) -> dict[str, Any]:
        return {
            "index": self.index,
            "time": self.time,
            "actor": self.actor,
            "kind": self.kind,
            "subjects": dict(self.subjects),
            "payload": dict(self.payload),
        }

    def canonical_bytes(self) -> bytes:
        """The leaf bytes, checked to read back as an entry: what cannot be read is never written."""
        try:
            data = canonical(self.to_json())
        except CanonicalError as exc:
            raise EntryError(f"entry is not canonical JSON material: {exc}") from exc
        AuditEntry.from_canonical(data)
        return data

    def leaf_hash(self) -> bytes:
        return leaf_hash(self.canonical_bytes())

    @classmethod
    def from_canonical(cls, data: bytes) -> AuditEntry:
        """Decode stored leaf bytes, insisting they are exactly the canonical form of an entry."""
        try:
            obj = parse_canonical(bytes(data))
        except CanonicalError as exc:
            raise EntryError(f"entry bytes are not canonical JSON: {exc}") from exc
        if not isinstance(obj, dict) or set(obj) != _FIELDS:
            raise EntryError("entry must be an object with exactly the audit fields")
        return cls(**obj)


def new_entry(
    index: int,
    actor: str,
    kind: str,
    subjects: Mapping[str, str],
    payload: Mapping[str, Any],
    now: datetime,
) -> AuditEntry:
    return AuditEntry(index, format_time(now), actor, kind, dict(subjects), dict(payload))
