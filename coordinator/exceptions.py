"""Errors of the coordinator, mapped to HTTP and gRPC status codes only at the edges.

CoordinatorError (code, message, details)
├── AuthenticationError      401  missing or unknown credentials
├── PermissionDeniedError    403  authenticated, but the role or owner does not match
├── NotFoundError            404
├── ConflictError            409  e.g. a reused enrollment token, a result asked for too early
├── InvalidRequestError      422  malformed request (bad CSR, bad job spec, bad participant id)
└── GoneError                410  an expired enrollment token
"""

from __future__ import annotations

from typing import Any


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
