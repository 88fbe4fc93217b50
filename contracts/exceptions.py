"""Typed errors of the pure domain, each carrying a machine-readable code for the API edge.

Hierarchy::

    ContractsError                 code, message, details; ``to_dict()`` for error bodies
    ├── SchemaError                a dataset schema is malformed or asked for something it lacks
    │   └── UnknownFieldError      ``DatasetSchema.field(name)`` found no such field (also a LookupError)
    ├── JobSpecError               a job spec is not valid against its dataset schema
    ├── AnalysisError              a summed vector cannot be finalised into a result
    │   └── SingularMatrixError    the regression design matrix has no unique solution
    ├── OfferError                 a dataset offer breaks a rule (grades, personal information, vocabulary)
    ├── TermsError                 offers admit no common terms for a buyer (empty intersection)
    ├── NegotiationError           a contract negotiation cannot proceed
    │   └── IllegalTransitionError the current state or the actor's role forbids the event (HTTP 409)
    ├── SignatureError             a contract signature is missing or does not verify; names the party
    └── DemandError                a buyer's demand is malformed or ended, or a cohort does not serve it
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
    FILTER_GRANULARITY = "filter_granularity"  # finer than the step or resolution the offer allows
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


# ------------------------------------------------------------------------- offers, contracts and policy


class OfferErrorCode(StrEnum):
    """Reasons an offer is refused; part of the public API, so never renamed."""

    DATASET_MISMATCH = "dataset_mismatch"
    UNKNOWN_FIELD = "unknown_field"
    MISSING_TAG = "missing_tag"
    UNKNOWN_TAG = "unknown_tag"
    TAG_TYPE_MISMATCH = "tag_type_mismatch"
    MISSING_GRADE = "missing_grade"
    CORE_FIELD_OFFERED = "core_field_offered"
    PERSONAL_FIELD_OFFERED = "personal_field_offered"
    PERSONAL_FLAG_MISSING = "personal_flag_missing"
    UNKNOWN_PURPOSE = "unknown_purpose"
    EMPTY_VALIDITY_WINDOW = "empty_validity_window"


class OfferError(ContractsError):
    """A dataset offer breaks a rule of the space (grades, personal information, vocabulary)."""

    default_code = "invalid_offer"

    def __init__(self, code: OfferErrorCode, message: str, **details: Any):
        super().__init__(message, code=code.value, details=details)
        self.offer_code = code


class TermsErrorCode(StrEnum):
    """Reasons contract terms cannot be compiled from a set of offers."""

    NO_OFFERS = "no_offers"
    DUPLICATE_OFFER = "duplicate_offer"
    DATASET_MISMATCH = "dataset_mismatch"
    BUYER_IS_PROVIDER = "buyer_is_provider"
    NO_COMMON_FIELDS = "no_common_fields"
    NO_COMMON_JOB_KINDS = "no_common_job_kinds"
    NO_COMMON_PURPOSES = "no_common_purposes"
    NO_COMMON_REGIONS = "no_common_regions"
    NO_COMMON_VALIDITY = "no_common_validity"
    EXPIRED = "expired"
    PURPOSE_NOT_ALLOWED = "purpose_not_allowed"
    REGION_NOT_ALLOWED = "region_not_allowed"


class TermsError(ContractsError):
    """The offers admit no common terms for this buyer (an empty intersection)."""

    default_code = "invalid_terms"

    def __init__(self, code: TermsErrorCode, message: str, **details: Any):
        super().__init__(message, code=code.value, details=details)
        self.terms_code = code


class NegotiationError(ContractsError):
    default_code = "negotiation_error"


class IllegalTransitionError(NegotiationError):
    """An event that the contract's current state or the actor's role does not allow (HTTP 409)."""

    default_code = "illegal_transition"

    def __init__(self, current_state: str, event: str, actor: str, message: str):
        details = {"current_state": str(current_state), "event": str(event), "actor": actor}
        super().__init__(message, details=details)
        self.current_state = current_state
        self.event = event
        self.actor = actor


class SignatureErrorCode(StrEnum):
    MISSING_SIGNATURE = "missing_signature"
    BAD_SIGNATURE = "bad_signature"
    UNKNOWN_KEY = "unknown_key"
    KEY_MISMATCH = "key_mismatch"
    MALFORMED_SIGNATURE = "malformed_signature"
    UNEXPECTED_SIGNATURE = "unexpected_signature"
    NOT_A_PARTY = "not_a_party"
    WRONG_CONTRACT = "wrong_contract"


class SignatureError(ContractsError):
    """A contract signature is missing, malformed or does not verify; ``party`` names whose."""

    default_code = "signature_error"

    def __init__(self, code: SignatureErrorCode, party: str, message: str, **details: Any):
        super().__init__(message, code=code.value, details={"party": party, **details})
        self.signature_code = code
        self.party = party


class DemandErrorCode(StrEnum):
    """Reasons a demand is refused or a cohort does not serve it; part of the public API."""

    UNKNOWN_TAG = "unknown_tag"
    UNUSABLE_TAG = "unusable_tag"  # personal or free-text tags: no job may ever read such a field
    DUPLICATE_TAG = "duplicate_tag"  # a tag both required and optional
    UNKNOWN_PURPOSE = "unknown_purpose"
    EMPTY_COVERAGE = "empty_coverage"
    COVERAGE_ENDED = "coverage_ended"
    FACTORY_RANGE = "factory_range"
    NOTHING_TO_MEASURE = "nothing_to_measure"
    BAD_MATCH_PARAMETER = "bad_match_parameter"  # a quality figure, weight or limit out of range
    COHORT_REFUSED = "cohort_refused"  # the contract path refuses a representative job


class DemandError(ContractsError):
    """A demand is malformed or has ended, or a cohort fails it; ``code`` is a ``DemandErrorCode``."""

    default_code = "invalid_demand"

    def __init__(self, code: DemandErrorCode, message: str, **details: Any):
        super().__init__(message, code=code.value, details=details)
        self.demand_code = code
