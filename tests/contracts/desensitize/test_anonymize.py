"""k-anonymity, l-diversity and the least generalization, checked against naive counts and brute force."""

from __future__ import annotations

import itertools
import math
from collections import Counter, defaultdict
from collections.abc import Mapping, Sequence

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from contracts.desensitize import (
    Hierarchy,
    IntervalHierarchy,
    KeepRule,
    PrivacyModelError,
    RuleError,
    RuleSet,
    ValueFormatError,
    ValueHierarchy,
    anonymize,
    apply_rules,
    check_k_anonymity,
    check_l_diversity,
    derive_contract_key,
    flat_hierarchy,
    k_anonymity,
    l_diversity,
)

CITY = ValueHierarchy.parse(
    """
Shanghai;East;*
Hangzhou;East;*
Nanjing;East;*
Beijing;North;*
Tianjin;North;*
Chengdu;West;*
"""
)
HIERARCHIES: dict[str, Hierarchy] = {
    "age": IntervalHierarchy(widths=(2, 4, 8)),
    "city": CITY,
    "sex": flat_hierarchy(["F", "M"]),
    "salary": IntervalHierarchy(widths=(25, 50, 100), origin=-10),
}
QIS = ["age", "city", "sex"]
Row = dict[str, object]


# -- naive references ---------------------------------------------------------------------------------
def naive_classes(
    rows: Sequence[Mapping[str, object]], qis: Sequence[str]
) -> dict[tuple[object, ...], list[int]]:
    classes: dict[tuple[object, ...], list[int]] = defaultdict(list)
    for i, row in enumerate(rows):
        classes[tuple(row[q] for q in qis)].append(i)
    return classes


def naive_suppressed(
    rows: list[Row],
    qis: Sequence[str],
    node: tuple[int, ...],
    k: int,
    l: int | None,  # noqa: E741
) -> int:
    """Rows in classes below k (or below l distinct diseases) once the QIs are generalized to ``node``."""
    general = [
        {q: HIERARCHIES[q].generalize(row[q], level) for q, level in zip(qis, node, strict=True)}
        for row in rows
    ]
    suppressed = 0
    for members in naive_classes(general, qis).values():
        diverse = len({rows[i]["disease"] for i in members})
        if len(members) < k or (l is not None and diverse < l):
            suppressed += len(members)
    return suppressed


rows_strategy = st.lists(
    st.fixed_dictionaries(
        {
            "age": st.integers(0, 15),
            "city": st.sampled_from([r[0] for r in CITY.rows]),
            "sex": st.sampled_from(["F", "M"]),
            "salary": st.integers(-20, 180),
            "disease": st.sampled_from(["flu", "cold", "asthma", "none"]),
            "note": st.integers(),
        }
    ),
    max_size=60,
)


# -- checks -------------------------------------------------------------------------------------------
def test_k_anonymity_and_l_diversity_of_a_small_table() -> None:
    rows = [
        {"zip": "200", "age": "3x", "d": "flu"},
        {"zip": "200", "age": "3x", "d": "cold"},
        {"zip": "200", "age": "3x", "d": "flu"},
        {"zip": "201", "age": "4x", "d": "flu"},
        {"zip": "201", "age": "4x", "d": "flu"},
    ]
    assert k_anonymity(rows, ["zip", "age"]) == 2
    assert l_diversity(rows, ["zip", "age"], "d") == 1
    check_k_anonymity(rows, ["zip", "age"], 2)
    with pytest.raises(PrivacyModelError) as caught:
        check_k_anonymity(rows, ["zip", "age"], 3)
    assert caught.value.details == {"model": "k_anonymity", "required": 3, "reached": 2}
    with pytest.raises(PrivacyModelError):
        check_l_diversity(rows, ["zip", "age"], "d", 2)
    check_l_diversity(rows[:3], ["zip", "age"], "d", 2)
    assert k_anonymity([], ["zip"]) == 0
    with pytest.raises(RuleError):
        k_anonymity(rows, ["city"])


# -- anonymize: properties ----------------------------------------------------------------------------
@settings(max_examples=150, deadline=None)
@given(
    rows_strategy,
    st.lists(st.sampled_from(sorted(HIERARCHIES)), min_size=1, max_size=4, unique=True),
    st.integers(1, 6),
    st.none() | st.integers(1, 3),
    st.sampled_from([0.0, 0.05, 0.1, 0.3]),
)
def test_anonymize_is_k_anonymous_l_diverse_and_least(
    rows: list[Row],
    qis: list[str],
    k: int,
    l: int | None,  # noqa: E741
    max_suppression: float,
) -> None:
    budget = math.floor(max_suppression * len(rows))
    lattice = list(itertools.product(*(range(HIERARCHIES[q].height + 1) for q in qis)))
    passing = {node: s for node in lattice if (s := naive_suppressed(rows, qis, node, k, l)) <= budget}
    sensitive = "disease" if l is not None else None
    if not passing:
        with pytest.raises(PrivacyModelError):
            anonymize(rows, qis, HIERARCHIES, k, l, max_suppression, sensitive=sensitive)
        return
    result = anonymize(rows, qis, HIERARCHIES, k, l, max_suppression, sensitive=sensitive)
    node = tuple(result.levels[q] for q in qis)
    # k-anonymous and l-diverse by a naive count, suppressing no more than allowed
    classes = naive_classes(result.rows, qis)
    assert all(len(members) >= k for members in classes.values())
    if l is not None:
        assert all(len({result.rows[i]["disease"] for i in m}) >= l for m in classes.values())
        assert result.l == min(
            (len({result.rows[i]["disease"] for i in m}) for m in classes.values()), default=0
        )
    assert result.k == min((len(m) for m in classes.values()), default=0)
    assert result.suppressed == len(rows) - len(result.rows) == passing.get(node) <= budget
    # least: no passing node has a lower total level, nor at the same level fewer suppressed rows
    least = min(sum(n) for n in passing)
    assert sum(node) == least
    assert result.suppressed == min(s for n, s in passing.items() if sum(n) == least)
    # the released rows are the input rows, generalized, in order; other fields untouched
    generalized = [
        {**row, **{q: HIERARCHIES[q].generalize(row[q], result.levels[q]) for q in qis}} for row in rows
    ]
    remaining = iter(generalized)
    assert all(any(row == candidate for candidate in remaining) for row in result.rows)  # a subsequence
    assert result.judged <= len(lattice)


@settings(max_examples=30, deadline=None)
@given(rows_strategy.filter(lambda rows: len(rows) >= 5), st.integers(1, 5))
def test_the_chosen_levels_as_rules_give_the_same_rows(rows: list[Row], k: int) -> None:
    """``rules()`` states the generalization for a receipt: applying it reproduces the released rows."""
    result = anonymize(rows, QIS, HIERARCHIES, k, max_suppression=0.3)
    rules = RuleSet(
        fields={**result.rules(), "disease": KeepRule(), "note": KeepRule(), "salary": KeepRule()}
    )
    applied = apply_rules(rows, rules, derive_contract_key(bytes(32), "c")).rows
    assert Counter(map(repr, result.rows)) <= Counter(map(repr, applied))
    assert len(applied) - len(result.rows) == result.suppressed


def test_a_known_table() -> None:
    rows: list[Row] = [
        {"age": a, "city": c, "sex": s, "disease": d}
        for a, c, s, d in [
            (30, "Shanghai", "F", "flu"),
            (31, "Hangzhou", "F", "cold"),
            (32, "Nanjing", "M", "flu"),
            (33, "Shanghai", "M", "asthma"),
            (40, "Beijing", "F", "flu"),
            (41, "Tianjin", "F", "cold"),
            (42, "Beijing", "M", "none"),
            (43, "Tianjin", "M", "flu"),
        ]
    ]
    result = anonymize(rows, QIS, HIERARCHIES, 2, max_suppression=0)
    assert result.levels == {"age": 1, "city": 1, "sex": 0}
    assert [r["age"] for r in result.rows] == [f"[{a}, {a + 2})" for a in (30, 30, 32, 32, 40, 40, 42, 42)]
    assert [r["city"] for r in result.rows] == ["East"] * 4 + ["North"] * 4
    assert result.k == 2 and result.suppressed == 0
    result = anonymize(rows, QIS, HIERARCHIES, 4, 3, 0, sensitive="disease")
    assert result.k >= 4 and result.l is not None and result.l >= 3
    # with one row of eight allowed to go, less generalization is needed
    assert sum(anonymize(rows, QIS, HIERARCHIES, 2, max_suppression=0.125).levels.values()) <= 3


def test_unreachable_and_bad_arguments() -> None:
    rows: list[Row] = [{"age": 1, "city": "Shanghai", "sex": "F", "disease": "flu"}] * 3
    with pytest.raises(PrivacyModelError):
        anonymize(rows, QIS, HIERARCHIES, 4)
    with pytest.raises(PrivacyModelError):
        anonymize(rows, QIS, HIERARCHIES, 2, 2, sensitive="disease")
    for bad in [
        {"quasi_identifiers": []},
        {"quasi_identifiers": ["age", "age"]},
        {"quasi_identifiers": ["a", "b", "c", "d", "e", "f", "g"]},
        {"quasi_identifiers": ["age", "disease"]},
        {"k": 0},
        {"l": 2},
        {"l": 0, "sensitive": "disease"},
        {"max_suppression": 1.0},
        {"sensitive": "age"},
    ]:
        arguments: dict[str, object] = {"quasi_identifiers": QIS, "k": 2, **bad}
        with pytest.raises(ValueError):
            anonymize(rows, hierarchies=HIERARCHIES, **arguments)  # type: ignore[arg-type]


def test_the_lattice_is_bounded() -> None:
    deep = ValueHierarchy(rows=(tuple(["v", *(f"l{i}" for i in range(15)), "*"]),))
    with pytest.raises(ValueError, match="lattice"):
        anonymize([], list("abcdef"), dict.fromkeys("abcdef", deep), 2)
    with pytest.raises(ValidationError):
        ValueHierarchy(rows=(tuple(["v", *(f"l{i}" for i in range(16)), "*"]),))


def test_values_outside_their_hierarchy_are_refused() -> None:
    with pytest.raises(ValueFormatError, match="city"):
        anonymize([{"age": 1, "city": "Paris", "sex": "F"}], QIS, HIERARCHIES, 1)
    with pytest.raises(ValueFormatError, match="age"):
        anonymize([{"age": "old", "city": "Paris", "sex": "F"}], QIS, HIERARCHIES, 1)
    with pytest.raises(RuleError, match="sex"):
        anonymize([{"age": 1, "city": "Shanghai"}], QIS, HIERARCHIES, 1)


def test_no_rows() -> None:
    result = anonymize([], QIS, HIERARCHIES, 3)
    assert result.rows == [] and result.k == 0 and result.suppressed == 0
    assert result.levels == {"age": 0, "city": 0, "sex": 0}
