"""Errors of the homomorphic-encryption package; the edges map them to HTTP or gRPC statuses.

ProtocolError                          (protocols.exceptions)
└── HEError                            base of every error raised under ``protocols.he``
    ├── HEMessageError                 bytes from a peer that do not parse, exceed a cap, or do not match the
    │   │                              expected parameters (also an InvalidMessageError, so the edges map it
    │   │                              like any other malformed message)
    │   └── SecretKeyInContextError    a context that must be public carries a secret key
    └── CapacityError                  a request does not fit the parameter set (too many monomials, ...)

Bad arguments from our own code (a NaN feature, an unsorted interval, ...) are programming errors and raise
ValueError.
"""

from __future__ import annotations

from protocols.exceptions import InvalidMessageError, ProtocolError


class HEError(ProtocolError):
    """Base class of every error raised under ``protocols.he``."""


class HEMessageError(HEError, InvalidMessageError):
    """A context or ciphertext received from another party is malformed, oversized or for other parameters."""


class SecretKeyInContextError(HEMessageError):
    """A context that should hold public material only carries a secret key: refuse it, never use it."""


class CapacityError(HEError):
    """The request does not fit the parameter set, e.g. more monomials than the ciphertext has slots."""
