"""Errors raised by the pure protocol code; the edges map them to RPC or HTTP statuses.

ProtocolError
├── StageError               a round function called in the wrong stage (illegal transition)
├── ThresholdError           fewer than t parties left where t are needed
├── InvalidMessageError      malformed or inconsistent message (failed authentication, wrong length, ...)
└── FixedPointOverflowError  a value does not fit the ring with room for the sum of all parties
"""


class ProtocolError(Exception):
    """Base class of every error raised under ``protocols``."""


class StageError(ProtocolError):
    """A message arrived, or a round was closed, in a stage where that is not allowed."""


class ThresholdError(ProtocolError):
    """Fewer than the threshold t of parties remain, so the protocol must stop without a result."""


class InvalidMessageError(ProtocolError):
    """A message is malformed, fails authentication, or contradicts what the protocol allows."""


class FixedPointOverflowError(ProtocolError):
    """A value is NaN, infinite, or too large to encode without risking a wrapped sum."""

    def __init__(self, message: str, index: tuple[int, ...]) -> None:
        super().__init__(message)
        self.index = index
