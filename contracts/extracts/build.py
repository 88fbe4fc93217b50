"""A node's extract, as a pure function of the rows it read: rules, then k-anonymity, then a receipt.

``build_extract`` applies the contract's rule of each requested column under the node's key for the
contract, drops the rows that lack a quasi-identifier (or the sensitive value), generalizes the
quasi-identifiers as little as ``anonymize`` can to reach k (and l), and sorts the rows so that their order
says nothing about the files. Whatever the grant says, a column that is not general grade, or that holds
personal data under a rule that keeps it, is refused before any row is touched.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Final

from pydantic import BaseModel, ConfigDict, Field

from contracts.canonical import canonical
from contracts.desensitize import (
    ContractKey,
    Hierarchy,
    IntervalHierarchy,
    PrivacyModelError,
    Rule,
    RuleSet,
    anonymize,
    apply_rules,
    check_k_anonymity,
    check_l_diversity,
    k_anonymity,
    l_diversity,
    rules_digest,
)
from contracts.extracts.grant import ExtractGrant, check_columns

MAX_EXTRACT_BYTES: Final = 16 * 1024 * 1024  # one node's rows as canonical JSON
MAX_EXTRACT_ROWS: Final = 100_000
Row = dict[str, object]


class ExtractReceipt(BaseModel):
    """What a node did to make one extract (or preview); canonical JSON, it names fields, never values.

    ``input_digest`` is SHA-256 over a random salt and the canonical JSON of the rows as read, so the node
    can later prove what it read (it journals the salt) while the digest alone reveals nothing of a small
    table. ``output_digest`` is SHA-256 of exactly the rows sent.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    scope: str  # the key scope: the contract id, or an offer's preview scope
    rules_digest: str
    operators: dict[str, tuple[str, ...]]  # per column: its rule, then the generalization chosen
    quasi_identifiers: tuple[str, ...]
    levels: dict[str, int]
    k_required: int = Field(ge=1)
    k: int = Field(ge=0)
    l_required: int | None = None
    l: int | None = None  # noqa: E741
    sensitive: str | None = None  # the field l counts distinct values of
    input_rows: int = Field(ge=0)
    incomplete: int = Field(ge=0)  # rows without a quasi-identifier or sensitive value: never released
    suppressed: int = Field(ge=0)  # rows of classes below k (or l), removed whole
    rows: int = Field(ge=0)
    input_digest: str
    output_digest: str


@dataclass(frozen=True)
class BuiltExtract:
    rows: list[Row]
    rows_json: bytes  # canonical JSON: what is sent and what ``receipt.output_digest`` covers
    receipt: ExtractReceipt


def preview_scope(offer_id: str) -> str:
    """The key scope of an offer's preview; a '/' never occurs in a contract id, so no contract shares it."""
    return f"offer-preview/{offer_id}"


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def input_digest(rows: Sequence[Mapping[str, object]], salt: bytes) -> str:
    return sha256_hex(salt + canonical([dict(row) for row in rows]))


def build_extract(
    rows: Sequence[Mapping[str, object]],
    grant: ExtractGrant,
    columns: Sequence[str],
    key: ContractKey,
    *,
    salt: bytes,
) -> BuiltExtract:
    """The desensitized, k-anonymous (and l-diverse) extract of ``rows`` for ``columns``.

    ``rows`` are the node's matching rows with every requested column (and the entity field of each date
    shift), JSON-safe. Raise ``ExtractSpecError`` for a column the grant does not let go,
    ``DesensitizationError`` when a value does not fit its rule; nothing is released then.
    """
    check_columns(columns, grant)
    terms = grant.terms
    desensitized = apply_rules(rows, RuleSet(fields={c: terms.rules.fields[c] for c in columns}), key)
    qis = [name for name in terms.quasi_identifier_names if name in columns]
    sensitive = terms.sensitive if terms.l is not None and terms.sensitive in columns else None
    needed = [*qis, *([sensitive] if sensitive else [])]
    complete = [row for row in desensitized.rows if all(row[name] is not None for name in needed)]
    released, levels, suppressed = _anonymize(complete, qis, grant, sensitive)
    # A bug above must not become a release: the model is checked on the very rows that leave.
    check_k_anonymity(released, qis, terms.k)
    if sensitive is not None and terms.l is not None:
        check_l_diversity(released, qis, sensitive, terms.l)
    receipt = ExtractReceipt(
        scope=key.contract_id,
        rules_digest=rules_digest(terms.rules),
        operators=_operators(columns, terms.rules.fields, levels, grant),
        quasi_identifiers=tuple(qis),
        levels=levels,
        k_required=terms.k,
        k=0,
        l_required=terms.l if sensitive else None,
        sensitive=sensitive,
        input_rows=len(rows),
        incomplete=len(desensitized.rows) - len(complete),
        suppressed=suppressed,
        rows=0,
        input_digest=input_digest(rows, salt),
        output_digest="",
    )
    return seal(released, receipt)


def seal(rows: Sequence[Mapping[str, object]], receipt: ExtractReceipt) -> BuiltExtract:
    """Sort ``rows`` canonically, encode them, and complete the receipt: row count, k, l, output digest."""
    encoded = sorted(((canonical(dict(row)), dict(row)) for row in rows), key=lambda pair: pair[0])
    ordered = [row for _, row in encoded]
    data = canonical(ordered)
    qis, sensitive = list(receipt.quasi_identifiers), receipt.sensitive
    reached_l = l_diversity(ordered, qis, sensitive) if sensitive is not None else None
    done = receipt.model_copy(
        update={
            "rows": len(ordered),
            "k": k_anonymity(ordered, qis) if qis else len(ordered),
            "l": reached_l,
            "output_digest": sha256_hex(data),
        }
    )
    return BuiltExtract(ordered, data, done)


def _anonymize(
    rows: list[Row], qis: list[str], grant: ExtractGrant, sensitive: str | None
) -> tuple[list[Row], dict[str, int], int]:
    """The rows left after generalization and suppression, the levels chosen, the rows suppressed."""
    terms = grant.terms
    if not rows:
        return [], {}, 0
    if not qis:  # the whole release is one class
        distinct = len({row[sensitive] for row in rows}) if sensitive is not None else None
        enough = len(rows) >= terms.k and (distinct is None or distinct >= (terms.l or 0))
        return (rows, {}, 0) if enough else ([], {}, len(rows))
    hierarchies = terms.hierarchies()
    try:
        done = anonymize(
            rows,
            qis,
            {name: hierarchies[name] for name in qis},
            terms.k,
            terms.l if sensitive is not None else None,
            terms.max_suppression,
            sensitive=sensitive,
        )
    except PrivacyModelError:  # not even the top of the lattice: nothing is released
        return [], {}, len(rows)
    return done.rows, done.levels, done.suppressed


def _operators(
    columns: Sequence[str], rules: Mapping[str, Rule], levels: Mapping[str, int], grant: ExtractGrant
) -> dict[str, tuple[str, ...]]:
    hierarchies = grant.terms.hierarchies()
    applied: dict[str, tuple[str, ...]] = {}
    for name in columns:
        steps: list[str] = [rules[name].op]
        level = levels.get(name, 0)
        if level:
            steps.append(_generalization(hierarchies[name], level))
        applied[name] = tuple(steps)
    return applied


def _generalization(hierarchy: Hierarchy, level: int) -> str:
    if isinstance(hierarchy, IntervalHierarchy):
        return "suppress" if level > len(hierarchy.widths) else f"bucket({hierarchy.widths[level - 1]:g})"
    return f"generalize(level {level})"
