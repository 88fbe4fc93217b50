"""Typed errors of the pure domain, each carrying a machine-readable code for the API edge.

Hierarchy::

    ContractsError                 code, message, details; ``to_dict()`` for error bodies
    ├── SchemaError                a dataset schema is malformed or asked for something it lacks
    │   └── UnknownFieldError      ``DatasetSchema.field(name)`` found no such field (also a LookupError)
    ├── JobSpecError               a job spec is not valid against its dataset schema
    └── AnalysisError              a summed vector cannot be finalised into a result
        └── SingularMatrixError    the regression design matrix has no unique solution
"""

from __future__ import annotations

from enum import StrEnum
from typing import Any


class ContractsError(Exception):
    """Base of every domain error; ``code`` is stable, ``message`` is for humans."""

    default_code = "contracts_error"

    def __init__(self, message: str, *, code: str | None = None, details: dict[str, Any] | None = None):
        super().__init__(message)
        self.message = message
        self.code: str = code or self.default_code
        self.details: dict[str, Any] = dict(details or {})

    def to_dict(self) -> dict[str, Any]:
        """Render as the ``error`` object of an API response."""
        return {"code": self.code, "message": self.message, "details": self.details}


class SchemaError(ContractsError):
    default_code = "schema_error"


class UnknownFieldError(SchemaError, LookupError):
    default_code = "unknown_field"


class SpecErrorCode(StrEnum):
    """Reasons a job spec is refused; part of the public API, so never renamed."""

    DATASET_MISMATCH = "dataset_mismatch"
    UNKNOWN_FIELD = "unknown_field"
    PERSONAL_FIELD = "personal_field"
    FIELD_TYPE_NOT_ALLOWED = "field_type_not_allowed"
    MISSING_PARAMETER = "missing_parameter"
    UNEXPECTED_PARAMETER = "unexpected_parameter"
    GROUP_BY_NOT_CATEGORY = "group_by_not_category"
    GROUP_BY_NOT_SUPPORTED = "group_by_not_supported"
    BAD_BINS = "bad_bins"
    BAD_FEATURES = "bad_features"
    BAD_FILTER_OP = "bad_filter_op"
    BAD_FILTER_VALUE = "bad_filter_value"
    VECTOR_TOO_LONG = "vector_too_long"


class JobSpecError(ContractsError):
    default_code = "invalid_job_spec"

    def __init__(self, code: SpecErrorCode, message: str, **details: Any):
        super().__init__(message, code=code.value, details=details)
        self.spec_code = code


class AnalysisError(ContractsError):
    default_code = "analysis_error"


class SingularMatrixError(AnalysisError):
    default_code = "singular_matrix"
