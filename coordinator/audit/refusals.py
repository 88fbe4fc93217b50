"""The bounded shape of a refusal in the audit log, shared by the gateway's edge and the services.

A refusal records the request's SHA-256 digest and size, never the request: whatever a caller sends, its
refusal entry stays within a few hundred bytes, and every value in it is inside canonical JSON.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from contracts.canonical import ID_PATTERN, bounded, bounded_text

MAX_REASON = 300
MAX_DETAILS = 8
_ID = re.compile(ID_PATTERN)


@dataclass(frozen=True)
class RequestDigest:
    """What identifies a request without repeating it: the SHA-256 of its body and its size in bytes."""

    sha256: str
    size: int

    @classmethod
    def of(cls, body: bytes) -> RequestDigest:
        return cls(hashlib.sha256(body).hexdigest(), len(body))

    def to_json(self) -> dict[str, Any]:
        return {"sha256": self.sha256, "bytes": self.size}


def refusal_payload(code: str, message: str, request: RequestDigest | None, **extra: Any) -> dict[str, Any]:
    """``code``, the reason cut to ``MAX_REASON`` characters, the request digest and bounded extras."""
    payload: dict[str, Any] = {"code": bounded_text(code, 64), "reason": bounded_text(message, MAX_REASON)}
    payload |= {key: bounded(value, text=120, items=10, depth=3) for key, value in extra.items()}
    if request is not None:
        payload["request"] = request.to_json()
    return payload


def scalar_details(details: Mapping[str, Any]) -> dict[str, Any]:
    """The first few scalar details of an error (names, codes, limits), each bounded; lists are left out."""
    scalars = [(k, v) for k, v in details.items() if v is None or isinstance(v, str | int | float | bool)]
    return {bounded_text(str(k), 64): bounded(v, text=120) for k, v in scalars[:MAX_DETAILS]}


def safe_subjects(**candidates: str | None) -> dict[str, str]:
    """The candidates that are well-formed ids; an id no log label can hold is no subject."""
    return {kind: value for kind, value in candidates.items() if value is not None and _ID.fullmatch(value)}
