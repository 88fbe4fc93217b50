"""Errors of the coordinator, mapped to HTTP and gRPC status codes only at the edges.

CoordinatorError (code, message, details)
├── AuthenticationError      401  missing or unknown credentials
├── PermissionDeniedError    403  authenticated, but the role or owner does not match
│   └── PolicyViolationError 403  the contract does not allow the job
├── NotFoundError            404  also what a participant gets for what it may not see
├── ConflictError            409  e.g. a reused enrollment token, a result asked for too early
├── InvalidRequestError      422  malformed request (bad CSR, bad job spec, bad participant id)
├── GoneError                410  an expired enrollment token
└── RequestTooLargeError     413  a request body past ``CoordinatorSettings.max_request_bytes``

A refusal that its raiser has already written to the audit log is marked with ``mark_audited`` so the
edge does not log it a second time.
"""

from __future__ import annotations

from typing import Any

_AUDITED_NOTE = "dataspace: this refusal is in the audit log"


class CoordinatorError(Exception):
    code = "coordinator_error"

    def __init__(self, message: str, *, code: str | None = None, details: dict[str, Any] | None = None):
        super().__init__(message)
        self.message = message
        if code is not None:
            self.code = code
        self.details = details or {}


class AuthenticationError(CoordinatorError):
    code = "unauthenticated"


class PermissionDeniedError(CoordinatorError):
    code = "permission_denied"


class PolicyViolationError(PermissionDeniedError):
    code = "policy_violation"


class NotFoundError(CoordinatorError):
    code = "not_found"


class ConflictError(CoordinatorError):
    code = "conflict"


class InvalidRequestError(CoordinatorError):
    code = "invalid_request"


class GoneError(CoordinatorError):
    code = "gone"


class RequestTooLargeError(CoordinatorError):
    code = "request_too_large"


def mark_audited(error: BaseException) -> None:
    """Say that the refusal ``error`` already has its audit entry (a PEP 678 note: any type can carry it)."""
    if not was_audited(error):
        error.add_note(_AUDITED_NOTE)


def was_audited(error: BaseException) -> bool:
    return _AUDITED_NOTE in getattr(error, "__notes__", ())
