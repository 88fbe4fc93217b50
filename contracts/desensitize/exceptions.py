"""Errors of desensitization; none of them ever carries a data value, only field names and row numbers.

Hierarchy::

    ContractsError                      (contracts.exceptions)
    └── DesensitizationError            base of every error raised under ``contracts.desensitize``
        ├── RuleError                   rules do not fit the rows (a field they name is absent, ...)
        ├── ValueFormatError            one value does not fit its field's rule (names field and row)
        └── PrivacyModelError           rows are not k-anonymous or l-diverse, or cannot be made so
"""

from __future__ import annotations

from typing import Any

from contracts.exceptions import ContractsError


class DesensitizationError(ContractsError):
    default_code = "desensitization_error"


class RuleError(DesensitizationError):
    default_code = "bad_rule"


class ValueFormatError(DesensitizationError):
    """A value that its rule cannot transform; the message says why but never shows the value."""

    default_code = "bad_value"

    def __init__(self, field: str, row: int | None, reason: str) -> None:
        where = f"field {field!r}" + ("" if row is None else f", row {row}")
        super().__init__(f"{where}: {reason}", details={"field": field, "row": row, "reason": reason})
        self.field = field
        self.row = row


class PrivacyModelError(DesensitizationError):
    default_code = "privacy_model_not_met"

    def __init__(self, message: str, **details: Any) -> None:
        super().__init__(message, details=details)
