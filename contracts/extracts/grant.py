"""What a contract lets an extract release: the offers' common extract terms and the fields they release.

A contract carries an ``ExtractGrant`` only when every offer declares the same extract terms, and describes
each released field alike: a buyer gets record-level data only on terms all its providers wrote, and one
merged extract has one meaning per column. The grant is part of the terms, so every party signs it.
"""

from __future__ import annotations

from collections.abc import Sequence

from pydantic import BaseModel, ConfigDict

from contracts.desensitize import DateShiftRule
from contracts.extracts.exceptions import ExtractErrorCode, ExtractSpecError
from contracts.extracts.terms import ExtractTerms, needs_removal, release_problem
from contracts.grades import Grade
from contracts.jobspec import JobSpec
from contracts.offers import DatasetOffer, field_key, strictest


class ExtractGrant(BaseModel):
    """The extract terms of a contract, with each released field's grade and whether it needs removal.

    ``terms`` carry every quasi-identifier's hierarchy written out. ``needs_removal`` lists the released
    fields that hold personal information or free text, releasable only under a rule that removes it.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    terms: ExtractTerms
    grades: dict[str, Grade]
    needs_removal: tuple[str, ...] = ()

    def releasable(self) -> tuple[str, ...]:
        """The fields an extract may carry: released by a rule, general grade, personal content removed."""
        return tuple(name for name in self.terms.released() if self.problem(name) is None)

    def problem(self, name: str) -> str | None:
        """Why ``name`` cannot appear in an extract under this grant, or None."""
        rule = self.terms.rules.fields.get(name)
        if rule is None or name not in self.terms.released():
            return f"the contract has no rule releasing {name!r}"
        return release_problem(name, rule, self.grades.get(name), name in self.needs_removal)


def extract_grant(offers: Sequence[DatasetOffer]) -> ExtractGrant | None:
    """The grant the offers make together, or None if one declares no extract terms or they differ.

    Differing terms grant nothing rather than a blend: rules and hierarchies cannot be intersected
    field by field without changing what some provider signed up to.
    """
    declared = [offer.extract for offer in offers]
    first = declared[0] if declared else None
    if first is None or any(terms != first for terms in declared[1:]):
        return None
    reference = offers[0]
    described = {*first.released(), *(rule.entity_field for rule in _date_shifts(first))}
    for name in described:
        key = field_key(reference, reference.dataset_schema.field(name))
        if any(field_key(o, o.dataset_schema.field(name)) != key for o in offers[1:]):
            return None
    released = first.released()
    return ExtractGrant(
        terms=first.with_hierarchies(reference.dataset_schema),
        grades={name: strictest(o.grades.get(name, Grade.CORE) for o in offers) for name in released},
        needs_removal=tuple(
            name
            for name in released
            if any(needs_removal(o.dataset_schema.field(name), o.tags.get(name)) for o in offers)
        ),
    )


def _date_shifts(terms: ExtractTerms) -> list[DateShiftRule]:
    return [rule for rule in terms.rules.fields.values() if isinstance(rule, DateShiftRule)]


def check_extract_spec(spec: JobSpec, grant: ExtractGrant | None) -> None:
    """Raise ``ExtractSpecError`` unless ``grant`` lets ``spec`` release every column it names."""
    check_columns(spec.columns, grant)


def check_columns(columns: Sequence[str], grant: ExtractGrant | None) -> None:
    """Raise ``ExtractSpecError`` unless ``grant`` lets an extract release every one of ``columns``."""
    if grant is None:
        raise ExtractSpecError(ExtractErrorCode.NOT_GRANTED, "the contract grants no record-level release")
    if not columns:
        raise ExtractSpecError(ExtractErrorCode.NOT_RELEASABLE, "an extract names at least one column")
    columns = list(columns)
    repeated = sorted({name for name in columns if columns.count(name) > 1})
    if repeated:
        raise ExtractSpecError(
            ExtractErrorCode.DUPLICATE_COLUMN, f"columns named twice: {repeated}", columns=repeated
        )
    for name in columns:
        problem = grant.problem(name)
        if problem is not None:
            raise ExtractSpecError(ExtractErrorCode.NOT_RELEASABLE, problem, column=name)
