"""Desensitization of record-level releases: per-field rules, surrogates, and k-anonymity / l-diversity.

Pure functions over rows (lists of dicts); keys come from ``derive_contract_key``, so every keyed output
is stable within one contract at one node and unrelated across contracts.
"""

from contracts.desensitize.anonymize import MAX_QUASI_IDENTIFIERS, Anonymized, anonymize
from contracts.desensitize.apply import DesensitizationReport, Desensitized, FieldReport, apply_rules
from contracts.desensitize.credit_code import CreditCodeSurrogate
from contracts.desensitize.exceptions import (
    DesensitizationError,
    PrivacyModelError,
    RuleError,
    ValueFormatError,
)
from contracts.desensitize.hierarchy import Hierarchy, IntervalHierarchy, ValueHierarchy, flat_hierarchy
from contracts.desensitize.kanonymity import (
    check_k_anonymity,
    check_l_diversity,
    equivalence_classes,
    k_anonymity,
    l_diversity,
)
from contracts.desensitize.keys import ContractKey, derive_contract_key
from contracts.desensitize.resident_id import ResidentIdSurrogate
from contracts.desensitize.rules import (
    BucketRule,
    DateShiftRule,
    FF1Rule,
    GeneralizeRule,
    KeepRule,
    MaskRule,
    PseudonymRule,
    Rule,
    RuleSet,
    SuppressRule,
    rules_digest,
)

__all__ = [
    "MAX_QUASI_IDENTIFIERS",
    "Anonymized",
    "BucketRule",
    "ContractKey",
    "CreditCodeSurrogate",
    "DateShiftRule",
    "DesensitizationError",
    "DesensitizationReport",
    "Desensitized",
    "FF1Rule",
    "FieldReport",
    "GeneralizeRule",
    "Hierarchy",
    "IntervalHierarchy",
    "KeepRule",
    "MaskRule",
    "PrivacyModelError",
    "PseudonymRule",
    "ResidentIdSurrogate",
    "Rule",
    "RuleError",
    "RuleSet",
    "SuppressRule",
    "ValueFormatError",
    "ValueHierarchy",
    "anonymize",
    "apply_rules",
    "check_k_anonymity",
    "check_l_diversity",
    "derive_contract_key",
    "equivalence_classes",
    "flat_hierarchy",
    "k_anonymity",
    "l_diversity",
    "rules_digest",
]
