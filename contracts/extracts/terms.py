"""An offer's record-level terms: a rule per field, quasi-identifiers, k, l and the suppression allowed.

``check_extract_terms`` keeps the rule of the space: only general-grade fields ever appear in a record, and
a field holding personal information or free text only under a rule that removes its content (a keyed
pseudonym, an FF1 surrogate, suppression or generalization). Core- and important-grade fields never do,
whatever their rule.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Final

from pydantic import BaseModel, ConfigDict, Field

from contracts.desensitize import (
    MAX_QUASI_IDENTIFIERS,
    DateShiftRule,
    Hierarchy,
    IntervalHierarchy,
    KeepRule,
    Rule,
    RuleSet,
    SuppressRule,
    ValueHierarchy,
    flat_hierarchy,
)
from contracts.desensitize.anonymize import MAX_LATTICE_NODES
from contracts.desensitize.rules import FieldName
from contracts.extracts.exceptions import ExtractErrorCode, ExtractTermsError
from contracts.grades import Grade
from contracts.schema import DatasetSchema, FieldSpec, FieldType
from contracts.vocabulary import TAGS

# Rules whose output no longer holds the value's personal content.
REMOVING_OPS: Final = frozenset({"pseudonym", "ff1", "suppress", "generalize"})
_DROP: Final = SuppressRule(mode="drop")


class QuasiIdentifier(BaseModel):
    """A released field that could single out a record with outside knowledge, and how to coarsen it.

    Without a hierarchy a category field kept as it is generalizes to ``*`` (all its declared categories);
    numbers need bucket widths (an ``IntervalHierarchy``) and anything else a value table.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    field: FieldName
    hierarchy: ValueHierarchy | IntervalHierarchy | None = None


class ExtractTerms(BaseModel):
    """The record-level terms of an offer, copied into a contract's terms and so signed by every party.

    ``rules`` say how each released field is desensitized (a field without a rule is never released);
    the released rows are then made ``k``-anonymous over the quasi-identifiers they carry (and ``l``-diverse
    in ``sensitive``), suppressing at most ``max_suppression`` of the rows whole.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    rules: RuleSet
    quasi_identifiers: tuple[QuasiIdentifier, ...] = Field(min_length=1, max_length=MAX_QUASI_IDENTIFIERS)
    k: int = Field(default=5, ge=2, le=10_000)
    l: int | None = Field(default=None, ge=2, le=10_000)  # noqa: E741
    sensitive: FieldName | None = None
    max_suppression: float = Field(default=0.05, ge=0, lt=1, allow_inf_nan=False)

    def released(self) -> tuple[str, ...]:
        """The fields a release may carry, in rule order."""
        return tuple(name for name, rule in self.rules.fields.items() if rule != _DROP)

    @property
    def quasi_identifier_names(self) -> tuple[str, ...]:
        return tuple(q.field for q in self.quasi_identifiers)

    def hierarchies(self) -> dict[str, Hierarchy]:
        """The hierarchy of each quasi-identifier; every one must be explicit (``with_hierarchies``)."""
        missing = [q.field for q in self.quasi_identifiers if q.hierarchy is None]
        if missing:
            raise ExtractTermsError(
                ExtractErrorCode.BAD_QUASI_IDENTIFIER,
                f"quasi-identifiers without a hierarchy: {missing}",
                fields=missing,
            )
        return {q.field: q.hierarchy for q in self.quasi_identifiers if q.hierarchy is not None}

    def with_hierarchies(self, schema: DatasetSchema) -> ExtractTerms:
        """These terms with the default hierarchy of each category quasi-identifier written out."""
        explicit = tuple(
            q
            if q.hierarchy is not None
            else q.model_copy(update={"hierarchy": flat_hierarchy(schema.field(q.field).categories or [])})
            for q in self.quasi_identifiers
        )
        return self.model_copy(update={"quasi_identifiers": explicit})


def needs_removal(spec: FieldSpec, tag: str | None) -> bool:
    """Whether a field may be released only under a rule that removes its content."""
    described = TAGS.get(tag or "")
    return spec.personal or spec.type is FieldType.TEXT or (described is not None and described.personal)


def release_problem(name: str, rule: Rule, grade: Grade | None, removal_needed: bool) -> str | None:
    """Why ``name`` may not appear in a record under ``rule``, or None; an ungraded field counts as core."""
    if grade is not Grade.GENERAL:
        return f"field {name!r} is {grade or 'ungraded'} data: only general-grade fields appear in a record"
    if removal_needed and rule.op not in REMOVING_OPS:
        return (
            f"field {name!r} holds personal information or free text: it is released only as a pseudonym, "
            f"an FF1 surrogate, suppressed or generalized, not under {rule.op!r}"
        )
    return None


def check_extract_terms(
    terms: ExtractTerms, schema: DatasetSchema, tags: Mapping[str, str], grades: Mapping[str, Grade]
) -> None:
    """Raise ``ExtractTermsError`` unless ``terms`` release only what the space allows, coherently."""
    for name, rule in terms.rules.fields.items():
        if not schema.has_field(name):
            message = f"a rule names {name!r}, which is not in the schema"
            raise ExtractTermsError(ExtractErrorCode.UNKNOWN_FIELD, message, field=name)
        if isinstance(rule, DateShiftRule) and not schema.has_field(rule.entity_field):
            raise ExtractTermsError(
                ExtractErrorCode.UNKNOWN_FIELD,
                f"the date shift of {name!r} names the entity {rule.entity_field!r}, not in the schema",
                field=rule.entity_field,
            )
        if rule == _DROP:
            continue
        removal = needs_removal(schema.field(name), tags.get(name))
        problem = release_problem(name, rule, grades.get(name), removal)
        if problem is not None:
            code = (
                ExtractErrorCode.GRADE_NOT_RELEASABLE
                if grades.get(name) is not Grade.GENERAL
                else ExtractErrorCode.PERSONAL_FIELD_KEPT
            )
            raise ExtractTermsError(code, problem, field=name)
    _check_quasi_identifiers(terms, schema)
    _check_sensitive(terms)


def _check_quasi_identifiers(terms: ExtractTerms, schema: DatasetSchema) -> None:
    names = terms.quasi_identifier_names
    released = set(terms.released())

    def refuse(message: str, **details: object) -> ExtractTermsError:
        return ExtractTermsError(ExtractErrorCode.BAD_QUASI_IDENTIFIER, message, **details)

    if len(set(names)) != len(names):
        raise refuse("a quasi-identifier is named twice", fields=list(names))
    for qi in terms.quasi_identifiers:
        if qi.field not in released:
            raise refuse(f"quasi-identifier {qi.field!r} has no rule that releases it", field=qi.field)
        spec = schema.field(qi.field)
        if qi.hierarchy is None and (
            spec.type is not FieldType.CATEGORY or terms.rules.fields[qi.field] != KeepRule()
        ):
            raise refuse(
                f"quasi-identifier {qi.field!r} needs a hierarchy: only a category field kept as it is "
                "generalizes to '*' by default",
                field=qi.field,
            )
    heights = [(q.hierarchy.height if q.hierarchy is not None else 1) + 1 for q in terms.quasi_identifiers]
    if math.prod(heights) > MAX_LATTICE_NODES:
        raise refuse(f"the generalization lattice has more than {MAX_LATTICE_NODES} nodes")


def _check_sensitive(terms: ExtractTerms) -> None:
    sensitive, l_required = terms.sensitive, terms.l
    problem = None
    if (sensitive is None) != (l_required is None):
        problem = "l-diversity needs both l and the sensitive field"
    elif sensitive is not None and sensitive not in terms.released():
        problem = f"the sensitive field {sensitive!r} has no rule that releases it"
    elif sensitive is not None and sensitive in terms.quasi_identifier_names:
        problem = f"the sensitive field {sensitive!r} cannot also be a quasi-identifier"
    if problem is not None:
        raise ExtractTermsError(ExtractErrorCode.BAD_SENSITIVE_FIELD, problem, field=sensitive)
