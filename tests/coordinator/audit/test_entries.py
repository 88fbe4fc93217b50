from __future__ import annotations

import hashlib
from datetime import UTC, datetime, timedelta, timezone

import pytest

from coordinator.audit.entries import AuditEntry, format_time, new_entry
from protocols.tlog.exceptions import EntryError

NOW = datetime(2025, 3, 1, 8, 30, 0, tzinfo=UTC)


def _entry(**payload: object) -> AuditEntry:
    return new_entry(7, "operator", "job.submitted", {"participant": "p-1", "job": "j-9"}, payload, NOW)


def test_canonical_bytes_are_rfc8785() -> None:
    entry = _entry(b=2, a=[1, 2.5, "x"], nested={"z": None, "y": True})
    want = (
        b'{"actor":"operator","index":7,"kind":"job.submitted",'
        b'"payload":{"a":[1,2.5,"x"],"b":2,"nested":{"y":true,"z":null}},'
        b'"subjects":{"job":"j-9","participant":"p-1"},"time":"2025-03-01T08:30:00Z"}'
    )
    assert entry.canonical_bytes() == want
    assert entry.leaf_hash() == hashlib.sha256(b"\x00" + want).digest()


def test_round_trip_through_canonical_bytes() -> None:
    entry = _entry(amount=12, note="数据 ok")
    assert AuditEntry.from_canonical(entry.canonical_bytes()) == entry


@pytest.mark.parametrize(
    "data",
    [
        b"not json",
        b"[]",
        b'{"actor":"a","index":0,"kind":"k","payload":{},"subjects":{}}',  # a field is missing
        b'{"actor":"a","index":0,"kind":"k","payload":{},"subjects":{},"time":"2025-03-01T08:30:00Z","x":1}',
        # keys out of order
        b'{"index":0,"actor":"a","kind":"k","payload":{},"subjects":{},"time":"2025-03-01T08:30:00Z"}',
        # whitespace
        b'{"actor":"a","index":0,"kind":"k","payload":{}, "subjects":{},"time":"2025-03-01T08:30:00Z"}',
        b'{"actor":"a","index":0,"index":1,"kind":"k","payload":{},"subjects":{},"time":"2025-03-01T08:30:00Z"}',
        b'{"actor":"a","index":-1,"kind":"k","payload":{},"subjects":{},"time":"2025-03-01T08:30:00Z"}',
        b'{"actor":"a","index":0,"kind":"k","payload":{},"subjects":{},"time":"2025-03-01 08:30:00"}',
        b'{"actor":"a","index":0,"kind":"k","payload":{},"subjects":{"job":1},"time":"2025-03-01T08:30:00Z"}',
    ],
)
def test_from_canonical_is_strict(data: bytes) -> None:
    with pytest.raises(EntryError):
        AuditEntry.from_canonical(data)


def test_time_is_utc_rfc3339() -> None:
    assert format_time(NOW) == "2025-03-01T08:30:00Z"
    beijing = timezone(timedelta(hours=8))
    assert format_time(datetime(2025, 3, 1, 16, 30, 0, 250, tzinfo=beijing)) == "2025-03-01T08:30:00.000250Z"
    with pytest.raises(EntryError):
        format_time(datetime(2025, 3, 1))


def test_invalid_entries_are_refused() -> None:
    with pytest.raises(EntryError):
        new_entry(0, "", "kind", {}, {}, NOW)
    with pytest.raises(EntryError):
        new_entry(0, "actor", "kind", {"job": ""}, {}, NOW)
    with pytest.raises(EntryError):
        new_entry(0, "actor", "kind", {}, {"big": 2**60}, NOW).canonical_bytes()
    with pytest.raises(EntryError):
        new_entry(0, "actor", "kind", {}, {"nan": float("nan")}, NOW).canonical_bytes()
