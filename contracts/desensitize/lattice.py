"""The generalization lattice of a table, encoded once so that judging one node is a few numpy passes.

Each quasi-identifier's values get integer codes per level, and rows collapse into distinct combinations of
level-0 codes (with the sensitive value, when there is one) and their counts. A node — one level per
quasi-identifier — is judged by rolling the combinations up to its levels and counting per class.
"""

from __future__ import annotations

from collections.abc import Hashable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from contracts.desensitize.exceptions import RuleError, ValueFormatError
from contracts.desensitize.hierarchy import Hierarchy

IntArray = NDArray[np.int64]
Node = tuple[int, ...]
_KEY_LIMIT = 1 << 62


@dataclass(frozen=True)
class Judgement:
    """A node's classes: which combination falls in which class, class sizes, which classes may stay."""

    node: Node
    suppressed: int  # rows in classes below k (or below l distinct sensitive values)
    klass: IntArray  # class of each combination
    kept: NDArray[np.bool_]  # per class
    sizes: IntArray  # per class
    distinct: IntArray | None  # distinct sensitive values per class


@dataclass(frozen=True)
class EncodedTable:
    heights: Node  # the top level of each quasi-identifier
    labels: tuple[tuple[tuple[object, ...], ...], ...]  # [q][level][level-0 code] -> generalized value
    codes: tuple[tuple[IntArray, ...], ...]  # [q][level] -> class code of every combination
    widths: tuple[tuple[int, ...], ...]  # [q][level] -> how many codes that level has
    combination: IntArray  # combination of every row
    counts: IntArray  # rows per combination
    sensitive: IntArray | None  # sensitive code per combination
    sensitive_width: int  # how many sensitive codes there are (at least 1)

    def judge(self, node: Node, k: int, l: int | None) -> Judgement:  # noqa: E741
        key, width = np.zeros(len(self.counts), dtype=np.int64), 1
        for q, level in enumerate(node):
            size = self.widths[q][level]
            if width * size >= _KEY_LIMIT:
                key, width = _dense(key)
            key, width = key * size + self.codes[q][level], width * size
        klass, classes = _dense(key)
        sizes = np.bincount(klass, weights=self.counts, minlength=classes).astype(np.int64)
        kept = sizes >= k
        distinct = None
        if self.sensitive is not None:
            pairs = np.sort(klass * self.sensitive_width + self.sensitive)
            pairs = pairs[np.concatenate(([True], pairs[1:] != pairs[:-1]))] if len(pairs) else pairs
            distinct = np.bincount(pairs // self.sensitive_width, minlength=classes).astype(np.int64)
            if l is not None:
                kept &= distinct >= l
        return Judgement(node, int(sizes[~kept].sum()), klass, kept, sizes, distinct)


def _dense(key: IntArray) -> tuple[IntArray, int]:
    """Number the distinct keys 0, 1, … in sorted order: each key's number, and how many there are."""
    if not len(key):
        return key, 0
    order = np.argsort(key, kind="stable")
    ordered = key[order]
    starts = np.concatenate(([0], (ordered[1:] != ordered[:-1]).astype(np.int64)))
    numbers = np.empty_like(key)
    numbers[order] = np.cumsum(starts)
    return numbers, int(numbers[order[-1]]) + 1


def encode(
    rows: Sequence[Mapping[str, object]],
    quasi_identifiers: Sequence[str],
    hierarchies: Mapping[str, Hierarchy],
    sensitive: str | None,
) -> EncodedTable:
    columns = [*quasi_identifiers, *([sensitive] if sensitive is not None else [])]
    raw = np.zeros((len(rows), len(columns)), dtype=np.int64)
    values: list[dict[Hashable, int]] = [{} for _ in columns]
    for i, row in enumerate(rows):
        for j, name in enumerate(columns):
            if name not in row:
                raise RuleError(f"row {i} lacks the field {name!r}", details={"field": name, "row": i})
            value = row[name]
            if not isinstance(value, Hashable):
                raise ValueFormatError(name, i, "the value cannot be compared")
            raw[i, j] = values[j].setdefault(value, len(values[j]))
    combos, inverse, counts = np.unique(raw, axis=0, return_inverse=True, return_counts=True)
    labels, codes, widths = [], [], []
    for q, name in enumerate(quasi_identifiers):
        q_labels, q_codes, q_widths = _levels(name, list(values[q]), hierarchies[name])
        labels.append(q_labels)
        codes.append(tuple(c[combos[:, q]] for c in q_codes))
        widths.append(q_widths)
    return EncodedTable(
        heights=tuple(hierarchies[name].height for name in quasi_identifiers),
        labels=tuple(labels),
        codes=tuple(codes),
        widths=tuple(widths),
        combination=inverse.astype(np.int64).reshape(-1),
        counts=counts.astype(np.int64),
        sensitive=combos[:, -1].astype(np.int64) if sensitive is not None else None,
        sensitive_width=max(1, len(values[-1])) if sensitive is not None else 1,
    )


def _levels(
    name: str, values: list[Hashable], hierarchy: Hierarchy
) -> tuple[tuple[tuple[object, ...], ...], tuple[IntArray, ...], tuple[int, ...]]:
    """Labels and codes of every level of one quasi-identifier.

    A level above 1 is computed once per class of the level below, from one value of that class: each
    level is a function of the one below it.
    """
    labels: list[tuple[object, ...]] = [tuple(values)]
    codes = [np.arange(len(values), dtype=np.int64)]
    widths = [len(values)]
    below = codes[0]
    for level in range(1, hierarchy.height + 1):
        representative: dict[int, Hashable] = {}
        for code, value in zip(below.tolist(), values, strict=True):
            representative.setdefault(code, value)
        try:
            by_class = {code: hierarchy.generalize(value, level) for code, value in representative.items()}
        except (KeyError, ValueError):
            raise ValueFormatError(name, None, f"a value has no generalization at level {level}") from None
        index: dict[object, int] = {}
        class_code = {code: index.setdefault(label, len(index)) for code, label in by_class.items()}
        below = np.fromiter((class_code[c] for c in below.tolist()), dtype=np.int64, count=len(values))
        labels.append(tuple(by_class[c] for c in codes[-1].tolist()))
        codes.append(below)
        widths.append(len(index))
    return tuple(labels), tuple(codes), tuple(widths)
