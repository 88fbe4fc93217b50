"""What a factory person signs, read out of a usage contract and laid out as tables.

``describe`` collects the terms (fields, kinds, purposes, region, budgets, granularity, minimums,
validity, price, duties, prohibitions and any desensitization rules) from the contract's compiled
policy; ``render`` prints them with rich.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from pydantic import BaseModel
from rich.console import Console
from rich.table import Table

from contracts.agreement import Contract
from contracts.policy import NumberConstraint, SetConstraint, TimeConstraint
from contracts.schema import FieldSpec
from contracts.vocabulary import PURPOSES, ConstraintName


@dataclass(frozen=True)
class FieldTerm:
    name: str
    type: str
    unit: str
    tag: str
    grade: str
    values: str  # bounds or categories
    granularity: str  # how finely filters may cut it


@dataclass(frozen=True)
class ContractView:
    contract_id: str
    state: str
    decision: str
    buyer: str
    providers: tuple[str, ...]
    purpose: str
    region: str
    dataset: str
    fields: tuple[FieldTerm, ...]
    terms: tuple[tuple[str, str], ...]  # (term, value) in the order a person reads them
    prohibitions: tuple[tuple[str, str], ...]
    prices: tuple[tuple[str, str, str], ...]  # (provider, offer, price)
    desensitization: tuple[tuple[str, str, str], ...]  # (field, operator, parameters)


def describe(contract: Contract, decision: str) -> ContractView:
    terms, policy = contract.terms, contract.terms.policy
    first = policy.permissions[0].constraints if policy.permissions else ()
    numbers = {c.left_operand: c.right_operand for c in first if isinstance(c, NumberConstraint)}
    times = {(c.left_operand, c.operator): c.right_operand for c in first if isinstance(c, TimeConstraint)}
    privacy = terms.privacy
    epsilon = numbers.get(ConstraintName.EPSILON_BUDGET)
    window = ConstraintName.VALIDITY_WINDOW
    rows: list[tuple[str, str]] = [
        ("purpose", _purpose(contract.purpose)),
        ("buyer region", contract.region + ("" if contract.region == "CN" else "  (cross-border)")),
    ]
    for permission in policy.permissions:
        rows += _permission_rows(permission.action, permission.constraints, len(policy.permissions) > 1)
    rows += [
        ("max jobs", _number(numbers.get(ConstraintName.QUERY_COUNT))),
        ("epsilon budget", "none (no differential privacy)" if epsilon is None else f"{epsilon:g}"),
        ("delta", f"{privacy.delta:g}"),
        ("noise added", f"{privacy.noise_mode}" if epsilon is not None else "-"),
        ("min cohort", f"{_number(numbers.get(ConstraintName.MIN_COHORT))} factories behind every figure"),
        ("min rows per factory", f"{privacy.min_rows_per_factory} rows of a factory to contribute a cell"),
        ("min rows per cell", f"{privacy.min_cell_rows} rows behind every released cell"),
        ("valid", f"{_time(times.get((window, 'gteq')))} to {_time(times.get((window, 'lt')))}"),
        ("duties", "; ".join(_duty(d.action, d.days) for d in policy.duties) or "-"),
    ]
    fields = terms.dataset_schema.fields
    rules, release = _release(terms)
    return ContractView(
        contract_id=contract.contract_id,
        state=str(contract.state),
        decision=decision,
        buyer=contract.buyer,
        providers=contract.provider_ids,
        purpose=contract.purpose,
        region=contract.region,
        dataset=terms.dataset_schema.name,
        fields=tuple(
            _field(spec, terms.tags.get(spec.name, "-"), terms.grades.get(spec.name)) for spec in fields
        ),
        terms=tuple(rows + release),
        prohibitions=tuple(
            (f"{p.name}" + (" (when " + _when(p.when) + ")" if p.when else ""), ", ".join(p.target) or "-")
            for p in policy.prohibitions
        ),
        prices=tuple((o.provider, o.offer_id, f"{o.price.amount} {o.price.currency}") for o in terms.offers),
        desensitization=tuple(rules),
    )


def _permission_rows(action: str, constraints: Sequence[Any], several: bool) -> list[tuple[str, str]]:
    sets = {c.left_operand: c.right_operand for c in constraints if isinstance(c, SetConstraint)}
    suffix = f" ({action})" if several else ""
    shown = (
        ("job kinds", ConstraintName.JOB_KIND),
        ("fields measured", ConstraintName.FIELDS),
        ("group by", ConstraintName.GROUP_BY),
        ("filter on", ConstraintName.FILTER_FIELDS),
    )
    return [(label + suffix, ", ".join(sets.get(name, ())) or "-") for label, name in shown]


def _when(conditions: Sequence[Any]) -> str:
    parts = []
    for c in conditions:
        if isinstance(c, SetConstraint):
            verb = "is one of" if c.operator == "isAnyOf" else "is none of"
            parts.append(f"{c.left_operand} {verb} {', '.join(c.right_operand)}")
        else:
            parts.append(str(c.left_operand))
    return " and ".join(parts)


def _purpose(name: str) -> str:
    known = PURPOSES.get(name)
    return f"{name} ({known.label_zh}: {known.description})" if known else name


def _number(value: float | None) -> str:
    return "-" if value is None else f"{value:g}"


def _time(value: datetime | None) -> str:
    return "-" if value is None else value.strftime("%Y-%m-%d %H:%M UTC")


def _duty(action: str, days: int | None) -> str:
    return f"{action} ({days} days)" if days is not None else str(action)


def _field(spec: FieldSpec, tag: str, grade: object) -> FieldTerm:
    if spec.type.is_numeric:
        values = f"[{spec.lower:g}, {spec.upper:g}] (clipped)"
    elif spec.categories is not None:
        values = ", ".join(spec.categories)
    else:
        values = "-"
    step = spec.filter_granularity
    granularity = "-" if step is None else f"whole {step}s" if isinstance(step, str) else f"steps of {step:g}"
    return FieldTerm(
        spec.name, spec.type.value, spec.unit or "-", tag, str(grade or "-"), values, granularity
    )


def _release(terms: BaseModel) -> tuple[list[tuple[str, str, str]], list[tuple[str, str]]]:
    """Desensitization rules anywhere in the terms, and the other terms of the model that holds them.

    A rule set is a model whose ``fields`` map field names to rules that each name an ``op``; the model
    holding it as ``rules`` (k-anonymity, quasi-identifiers, ...) gives the release terms.
    """
    for holder in _models(terms, depth=3):
        rules = getattr(holder, "rules", None)
        fields = getattr(rules, "fields", None) if isinstance(rules, BaseModel) else None
        if not isinstance(fields, dict) or not all(hasattr(r, "op") for r in fields.values()):
            continue
        rows = [(name, str(rule.op), _params(rule)) for name, rule in fields.items()]
        others = holder.model_dump(mode="json", exclude={"rules"})
        return rows, [(f"release {key}", _shown(value)) for key, value in others.items() if value is not None]
    return [], []


def _models(value: Any, depth: int) -> Iterator[BaseModel]:
    if isinstance(value, BaseModel):
        yield value
        if depth > 0:
            for name in type(value).model_fields:
                yield from _models(getattr(value, name), depth - 1)
    elif isinstance(value, tuple | list) and depth > 0:
        for item in value:
            yield from _models(item, depth - 1)


def _params(rule: BaseModel) -> str:
    params = {k: v for k, v in rule.model_dump(mode="json").items() if k != "op" and v is not None}
    return ", ".join(f"{k}={_shown(v)}" for k, v in params.items()) or "-"


def _shown(value: Any) -> str:
    if isinstance(value, list):
        return ", ".join(_shown(v) for v in value)
    if isinstance(value, dict):
        return "{" + ", ".join(f"{k}: {_shown(v)}" for k, v in value.items()) + "}"
    return str(value)


def render(console: Console, view: ContractView) -> None:
    """The contract as a person reads it before approving: who, what, under which limits."""
    console.rule()
    console.print(f"contract [bold]{view.contract_id}[/bold]: {view.state}, decision {view.decision}")
    console.print(f"buyer [bold]{view.buyer}[/bold] asks to analyse dataset [bold]{view.dataset}[/bold] "
                  f"with {', '.join(view.providers)}")  # fmt: skip
    terms = Table(title="Terms", show_header=False)
    terms.add_column("term", style="bold")
    terms.add_column("value", overflow="fold")
    for name, value in view.terms:
        terms.add_row(name, value)
    console.print(terms)
    fields = Table(title="Fields a job may use")
    for column in ("field", "type", "unit", "tag", "grade", "values", "filters cut at"):
        fields.add_column(column, overflow="fold")
    for f in view.fields:
        fields.add_row(f.name, f.type, f.unit, f.tag, f.grade, f.values, f.granularity)
    console.print(fields)
    never = Table(title="Never usable by any job")
    never.add_column("because")
    never.add_column("fields", overflow="fold")
    for reason, names in view.prohibitions:
        never.add_row(reason, names)
    console.print(never)
    prices = Table(title="Price")
    for column in ("provider", "offer", "price"):
        prices.add_column(column)
    for row in view.prices:
        prices.add_row(*row)
    total = sum(Decimal(p.split()[0]) for _, _, p in view.prices)
    prices.caption = f"total {total} CNY" if all(p.endswith("CNY") for _, _, p in view.prices) else None
    console.print(prices)
    if view.desensitization:
        rules = Table(title="Desensitization rules of record-level releases")
        for column in ("field", "operator", "parameters"):
            rules.add_column(column, overflow="fold")
        for row in view.desensitization:
            rules.add_row(*row)
        console.print(rules)
    else:
        console.print("no desensitization rules: the contract releases no records")
