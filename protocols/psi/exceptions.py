"""Errors of the private-set-intersection package; the edges map them to HTTP or gRPC statuses.

ProtocolError                         (protocols.exceptions)
├── PsiError                          base of the errors below that are not about a peer's message
│   ├── UnknownNormalizationError     a contract names a key normalisation this code does not have
│   ├── InvalidKeyError               a local key fails its normalisation's check (e.g. a bad check digit)
│   ├── ValueBoundError               a local value or total lies outside what the decryption can recover
│   └── DiscreteLogError              a decrypted total is not below the agreed bound (or was tampered with)
└── InvalidMessageError               (protocols.exceptions)
    └── InvalidPointError             a received element is not a ristretto255 point, or is the identity

Malformed messages that are not about one point (wrong length, too many items, duplicates) raise
InvalidMessageError itself. Bad arguments of local calls (a negative pad size, ...) raise ValueError.
"""

from __future__ import annotations

from protocols.exceptions import InvalidMessageError, ProtocolError


class PsiError(ProtocolError):
    """Base class of the errors raised under ``protocols.psi`` that do not blame a peer's message."""


class UnknownNormalizationError(PsiError):
    """The normalisation a contract names is not in the registry."""

    def __init__(self, name: str, known: tuple[str, ...]) -> None:
        super().__init__(f"unknown key normalisation {name!r}; known: {', '.join(known)}")
        self.name = name


class InvalidKeyError(PsiError):
    """A key does not pass its normalisation's validation and the caller asked for strictness."""

    def __init__(self, message: str, keys: tuple[str, ...]) -> None:
        super().__init__(message)
        self.keys = keys


class ValueBoundError(PsiError):
    """A value is negative, not an integer, or the values add up to more than the agreed bound."""


class DiscreteLogError(PsiError):
    """No integer in [0, bound) has the decrypted point as its multiple of the base point."""


class InvalidPointError(InvalidMessageError):
    """A received group element has the wrong length, a non-canonical encoding, or is the identity."""
