"""Apply a rule set to the rows of a record-level release and report what was done, for the receipt."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from pydantic import BaseModel, ConfigDict

from contracts.desensitize.exceptions import RuleError, ValueFormatError
from contracts.desensitize.keys import ContractKey
from contracts.desensitize.operators import Transform, transform_for
from contracts.desensitize.rules import RuleSet, SuppressRule, rules_digest


class FieldReport(BaseModel):
    """What one field's rule did: ``values`` transformed, ``missing`` (None) passed through."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    field: str
    op: str
    values: int
    missing: int


class DesensitizationReport(BaseModel):
    """Canonical-JSON-ready summary of one application of a rule set; it names fields, never values."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    contract_id: str
    rules_digest: str
    rows: int
    fields: tuple[FieldReport, ...]
    dropped_fields: tuple[str, ...]  # present in the rows, absent from the release


@dataclass(frozen=True)
class Desensitized:
    rows: list[dict[str, object]]
    report: DesensitizationReport


def apply_rules(rows: Sequence[Mapping[str, object]], rules: RuleSet, key: ContractKey) -> Desensitized:
    """Desensitize every row: each field with a rule is transformed, every other field is dropped.

    Raise ``RuleError`` if a row lacks a field that has a rule and ``ValueFormatError`` (field and row,
    never the value) if a value does not fit its rule; nothing is released then.
    """
    released = {name: rule for name, rule in rules.fields.items() if rule != SuppressRule(mode="drop")}
    transforms: dict[str, Transform] = {name: transform_for(rule, key) for name, rule in released.items()}
    counts = {name: [0, 0] for name in released}
    seen: dict[str, None] = {}
    out: list[dict[str, object]] = []
    for index, row in enumerate(rows):
        absent = [name for name in rules.fields if name not in row]
        if absent:
            raise RuleError(f"row {index} lacks fields that rules name: {absent}", details={"fields": absent})
        seen.update(dict.fromkeys(row))
        new: dict[str, object] = {}
        for name, value in row.items():
            transform = transforms.get(name)
            if transform is None:
                continue
            if value is None:
                counts[name][1] += 1
                new[name] = None
                continue
            try:
                new[name] = transform(value, row)
            except ValueError as exc:
                raise ValueFormatError(name, index, str(exc)) from None
            counts[name][0] += 1
        out.append(new)
    report = DesensitizationReport(
        contract_id=key.contract_id,
        rules_digest=rules_digest(rules),
        rows=len(out),
        fields=tuple(
            FieldReport(field=name, op=rule.op, values=counts[name][0], missing=counts[name][1])
            for name, rule in released.items()
        ),
        dropped_fields=tuple(sorted(name for name in seen if name not in released)),
    )
    return Desensitized(out, report)
