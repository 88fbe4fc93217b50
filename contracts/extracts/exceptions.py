"""Errors of record-level releases; they name fields, nodes and rows, never a value.

Hierarchy::

    ContractsError                  (contracts.exceptions)
    └── ExtractError                base of every error raised under ``contracts.extracts``
        ├── ExtractTermsError       an offer's extract terms break a rule of the space (HTTP 422 at the edge)
        ├── ExtractSpecError        an extract job asks for what the contract does not grant
        └── ReleaseBlocked          the coordinator refuses to release what nodes sent (personal data found,
                                    a class below k, a malformed extract or receipt)
"""

from __future__ import annotations

from enum import StrEnum
from typing import Any

from contracts.exceptions import ContractsError


class ExtractErrorCode(StrEnum):
    """Stable, machine-readable reasons; part of the public API, so never renamed."""

    UNKNOWN_FIELD = "unknown_field"
    GRADE_NOT_RELEASABLE = "grade_not_releasable"  # a core- or important-grade field in a release
    PERSONAL_FIELD_KEPT = "personal_field_kept"  # personal data or free text under a rule that keeps it
    BAD_QUASI_IDENTIFIER = "bad_quasi_identifier"
    BAD_SENSITIVE_FIELD = "bad_sensitive_field"
    NOT_GRANTED = "extract_not_granted"
    NOT_RELEASABLE = "not_releasable"
    DUPLICATE_COLUMN = "duplicate_column"
    PERSONAL_DATA_DETECTED = "personal_data_detected"
    NOT_K_ANONYMOUS = "not_k_anonymous"
    NOT_L_DIVERSE = "not_l_diverse"
    MALFORMED_EXTRACT = "malformed_extract"
    RECEIPT_MISMATCH = "receipt_mismatch"
    TOO_LARGE = "extract_too_large"


class ExtractError(ContractsError):
    default_code = "extract_error"

    def __init__(self, code: ExtractErrorCode, message: str, **details: Any) -> None:
        super().__init__(message, code=code.value, details=details)
        self.extract_code = code


class ExtractTermsError(ExtractError):
    """An offer's extract terms would let a field leave a factory that must not."""


class ExtractSpecError(ExtractError):
    """An extract job names columns the contract does not let it release."""


class ReleaseBlocked(ExtractError):
    """What the nodes sent is not released; ``details`` say which node and field, never which value."""
