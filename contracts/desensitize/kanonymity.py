"""k-anonymity and (distinct) l-diversity of rows over declared quasi-identifiers.

An equivalence class is the set of rows that agree on every quasi-identifier. Rows are k-anonymous when
every class holds at least k rows, and l-diverse when every class holds at least l distinct values of the
sensitive attribute.
"""

from __future__ import annotations

from collections.abc import Hashable, Mapping, Sequence

from contracts.desensitize.exceptions import PrivacyModelError, RuleError

Row = Mapping[str, object]


def equivalence_classes(
    rows: Sequence[Row], quasi_identifiers: Sequence[str]
) -> dict[tuple[Hashable, ...], list[int]]:
    """Row indices by their quasi-identifier values."""
    classes: dict[tuple[Hashable, ...], list[int]] = {}
    for index, row in enumerate(rows):
        classes.setdefault(_key(row, quasi_identifiers, index), []).append(index)
    return classes


def k_anonymity(rows: Sequence[Row], quasi_identifiers: Sequence[str]) -> int:
    """The largest k for which ``rows`` are k-anonymous: the smallest class size (0 without rows)."""
    return min((len(c) for c in equivalence_classes(rows, quasi_identifiers).values()), default=0)


def l_diversity(rows: Sequence[Row], quasi_identifiers: Sequence[str], sensitive: str) -> int:
    """The largest l for which ``rows`` are l-diverse: the fewest distinct sensitive values in a class."""
    return min(
        (
            len({_value(rows[i], sensitive, i) for i in members})
            for members in equivalence_classes(rows, quasi_identifiers).values()
        ),
        default=0,
    )


def check_k_anonymity(rows: Sequence[Row], quasi_identifiers: Sequence[str], k: int) -> None:
    """Raise ``PrivacyModelError`` unless every class holds at least ``k`` rows."""
    reached = k_anonymity(rows, quasi_identifiers)
    if rows and reached < k:
        raise PrivacyModelError(
            f"a class of {reached} rows is below k={k}", model="k_anonymity", required=k, reached=reached
        )


def check_l_diversity(rows: Sequence[Row], quasi_identifiers: Sequence[str], sensitive: str, l: int) -> None:  # noqa: E741
    """Raise ``PrivacyModelError`` unless every class holds at least ``l`` distinct sensitive values."""
    reached = l_diversity(rows, quasi_identifiers, sensitive)
    if rows and reached < l:
        raise PrivacyModelError(
            f"a class with {reached} distinct values of {sensitive!r} is below l={l}",
            model="l_diversity",
            required=l,
            reached=reached,
        )


def _key(row: Row, fields: Sequence[str], index: int) -> tuple[Hashable, ...]:
    return tuple(_value(row, name, index) for name in fields)


def _value(row: Row, name: str, index: int) -> Hashable:
    if name not in row:
        raise RuleError(f"row {index} lacks the field {name!r}", details={"field": name, "row": index})
    value = row[name]
    if not isinstance(value, Hashable):
        raise RuleError(f"field {name!r} holds a value that cannot be compared", details={"field": name})
    return value
