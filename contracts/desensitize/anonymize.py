"""The least generalization of a table's quasi-identifiers that makes it k-anonymous (and l-diverse).

A node of the lattice gives each quasi-identifier a level of its hierarchy; it *passes* when the rows of
classes below k (or with fewer than l distinct sensitive values) — suppressed whole — are at most
``max_suppression`` of the table. Because every level is a function of the one below, going up only merges
classes, so every node above a passing node passes (and every node below a failing node fails). Whether some
node of total level h passes is thus monotone in h, and a binary search over h, judging nodes at one total
level until one passes (nodes already implied by an earlier judgement are not judged again, as in OLA),
finds the least total level. Among its passing nodes the one suppressing fewest rows wins, then the
lexicographically lowest levels.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Final

from contracts.desensitize.exceptions import PrivacyModelError
from contracts.desensitize.hierarchy import Hierarchy, IntervalHierarchy
from contracts.desensitize.lattice import EncodedTable, Judgement, Node, encode
from contracts.desensitize.rules import BucketRule, GeneralizeRule, KeepRule, Rule, SuppressRule

MAX_QUASI_IDENTIFIERS: Final = 6
MAX_LATTICE_NODES: Final = 1 << 20


@dataclass(frozen=True)
class Anonymized:
    rows: list[dict[str, object]]
    levels: dict[str, int]  # the chosen level of each quasi-identifier
    k: int  # the smallest class left (0 when no row is left)
    # the fewest distinct sensitive values in a class left, when a sensitive field was named
    l: int | None  # noqa: E741
    suppressed: int  # rows removed whole
    judged: int  # lattice nodes judged
    hierarchies: Mapping[str, Hierarchy] = field(repr=False)

    def rules(self) -> dict[str, Rule]:
        """The chosen levels as per-field rules (for a receipt; the suppressed rows are not in them)."""
        return {name: _rule(self.hierarchies[name], level) for name, level in self.levels.items()}


def anonymize(
    rows: Sequence[Mapping[str, object]],
    quasi_identifiers: Sequence[str],
    hierarchies: Mapping[str, Hierarchy],
    k: int,
    l: int | None = None,  # noqa: E741
    max_suppression: float = 0.05,
    *,
    sensitive: str | None = None,
) -> Anonymized:
    """Generalize ``quasi_identifiers`` as little as possible (least total level) to reach k (and l).

    The rows left after suppressing at most ``max_suppression`` of them whole are k-anonymous, and
    l-diverse in ``sensitive`` when ``l`` is given. Raise ``PrivacyModelError`` if even the top of the
    lattice does not get there.
    """
    _check_arguments(quasi_identifiers, hierarchies, k, l, max_suppression, sensitive)
    table = encode(rows, quasi_identifiers, hierarchies, sensitive)
    search = _Search(table, k, l, math.floor(max_suppression * len(rows)))
    best = search.run()
    if best is None:
        raise PrivacyModelError(
            f"no generalization reaches k={k}"
            + (f" and l={l}" if l else "")
            + " within the suppression limit",
            model="anonymize",
            k=k,
            l=l,
            rows=len(rows),
        )
    distinct = best.distinct[best.kept] if best.distinct is not None else None
    return Anonymized(
        rows=_release(rows, quasi_identifiers, table, best),
        levels=dict(zip(quasi_identifiers, best.node, strict=True)),
        k=int(best.sizes[best.kept].min()) if best.kept.any() else 0,
        l=None if distinct is None else (int(distinct.min()) if len(distinct) else 0),
        suppressed=best.suppressed,
        judged=search.judged,
        hierarchies=dict(hierarchies),
    )


class _Search:
    def __init__(self, table: EncodedTable, k: int, l: int | None, budget: int) -> None:  # noqa: E741
        self.table, self.k, self.l, self.budget = table, k, l, budget
        self.verdicts: dict[Node, bool] = {}  # judged or implied by monotonicity
        self.suppressed: dict[Node, int] = {}  # of the nodes judged
        self.judged = 0

    def run(self) -> Judgement | None:
        if not self._passes(self.table.heights):
            return None
        low, high = 0, sum(self.table.heights)
        while low < high:
            middle = (low + high) // 2
            if any(self._passes(node) for node in self._at(middle)):
                high = middle
            else:
                low = middle + 1
        candidates = [node for node in self._at(low) if self._passes(node)]
        best = min(candidates, key=lambda node: (self._suppressed(node), node))
        return self.table.judge(best, self.k, self.l)

    def _passes(self, node: Node) -> bool:
        verdict = self.verdicts.get(node)
        if verdict is None:
            verdict = self._suppressed(node) <= self.budget
            self._imply(node, verdict)
        return verdict

    def _suppressed(self, node: Node) -> int:
        if node not in self.suppressed:
            self.judged += 1
            self.suppressed[node] = self.table.judge(node, self.k, self.l).suppressed
        return self.suppressed[node]

    def _imply(self, node: Node, passes: bool) -> None:
        """Record the verdict on every node above a passing node, or below a failing one."""
        step = 1 if passes else -1
        stack = [node]
        while stack:
            current = stack.pop()
            if current in self.verdicts:
                continue
            self.verdicts[current] = passes
            for q, level in enumerate(current):
                if 0 <= level + step <= self.table.heights[q]:
                    stack.append((*current[:q], level + step, *current[q + 1 :]))

    def _at(self, total: int, prefix: Node = ()) -> Iterator[Node]:
        """Nodes of the given total level, in lexicographic order."""
        q = len(prefix)
        if q == len(self.table.heights):
            if total == 0:
                yield prefix
            return
        rest = sum(self.table.heights[q + 1 :])
        for level in range(max(0, total - rest), min(self.table.heights[q], total) + 1):
            yield from self._at(total - level, (*prefix, level))


def _release(
    rows: Sequence[Mapping[str, object]],
    quasi_identifiers: Sequence[str],
    table: EncodedTable,
    best: Judgement,
) -> list[dict[str, object]]:
    """The rows of the classes kept, in order, with their quasi-identifiers generalized to ``best``."""
    kept = best.kept[best.klass][table.combination].tolist()
    generalized = [
        [table.labels[q][level][code] for code in table.codes[q][0][table.combination].tolist()]
        for q, level in enumerate(best.node)
    ]
    out = []
    for index, row in enumerate(rows):
        if kept[index]:
            new = dict(row)
            for q, name in enumerate(quasi_identifiers):
                new[name] = generalized[q][index]
            out.append(new)
    return out


def _below(low: Node, high: Node) -> bool:
    return all(a <= b for a, b in zip(low, high, strict=True))


def _rule(hierarchy: Hierarchy, level: int) -> Rule:
    if level == 0:
        return KeepRule()
    if isinstance(hierarchy, IntervalHierarchy):
        if level > len(hierarchy.widths):
            return SuppressRule()
        return BucketRule(width=hierarchy.widths[level - 1], origin=hierarchy.origin)
    return GeneralizeRule(hierarchy=hierarchy, level=level)


def _check_arguments(
    quasi_identifiers: Sequence[str],
    hierarchies: Mapping[str, Hierarchy],
    k: int,
    l: int | None,  # noqa: E741
    max_suppression: float,
    sensitive: str | None,
) -> None:
    if not 1 <= len(quasi_identifiers) <= MAX_QUASI_IDENTIFIERS or len(set(quasi_identifiers)) != len(
        quasi_identifiers
    ):
        raise ValueError(f"name 1 to {MAX_QUASI_IDENTIFIERS} distinct quasi-identifiers")
    missing = [name for name in quasi_identifiers if name not in hierarchies]
    if missing:
        raise ValueError(f"quasi-identifiers without a hierarchy: {missing}")
    if math.prod(hierarchies[name].height + 1 for name in quasi_identifiers) > MAX_LATTICE_NODES:
        raise ValueError(f"the generalization lattice has more than {MAX_LATTICE_NODES} nodes")
    if k < 1 or (l is not None and l < 1):
        raise ValueError("k and l are at least 1")
    if l is not None and sensitive is None:
        raise ValueError("l-diversity needs a sensitive field")
    if sensitive is not None and sensitive in quasi_identifiers:
        raise ValueError("the sensitive field cannot be a quasi-identifier")
    if not 0 <= max_suppression < 1:
        raise ValueError("max_suppression lies in [0, 1)")
