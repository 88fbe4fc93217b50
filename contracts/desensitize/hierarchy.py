"""Generalization hierarchies: value tables in ARX's ``value;level1;…;*`` form, and nested numeric intervals.

Level 0 is the value itself; each level above is a function of the one below it (checked), so merging
equivalence classes only ever happens upwards and k-anonymity is monotone over the lattice of levels.
Numbers are bucketed in decimal arithmetic on their shortest repr, so 0.3 falls in [0.3, 0.4), not [0.2, 0.3).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from decimal import Decimal
from functools import cached_property
from itertools import pairwise
from typing import Annotated, Final

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, model_validator

from contracts.canonical import SafeFloat

SUPPRESSED: Final = "*"
MAX_LEVELS: Final = 16
Label = Annotated[str, StringConstraints(pattern=r"^[^;\x00-\x1f\x7f-\x9f\u2028\u2029]*$", max_length=200)]
Width = Annotated[float, Field(gt=0, allow_inf_nan=False, le=2**53 - 1)]
Number = int | float | Decimal


class ValueHierarchy(BaseModel):
    """Rows ``(value, level 1, …, level h)``; every value that may occur must have its row."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    rows: tuple[Annotated[tuple[Label, ...], Field(max_length=MAX_LEVELS + 1)], ...] = Field(
        min_length=1, max_length=100_000
    )

    @model_validator(mode="after")
    def _well_formed(self) -> ValueHierarchy:
        widths = {len(row) for row in self.rows}
        if len(widths) != 1 or widths.pop() < 2:
            raise ValueError("every row needs the same number of levels, at least a value and one level")
        if len({row[0] for row in self.rows}) != len(self.rows):
            raise ValueError("a value has more than one row")
        for level in range(1, len(self.rows[0]) - 1):
            parent: dict[str, str] = {}
            for row in self.rows:
                if parent.setdefault(row[level], row[level + 1]) != row[level + 1]:
                    raise ValueError(f"level {level + 1} is not a function of level {level}")
        return self

    @classmethod
    def parse(cls, text: str, separator: str = ";") -> ValueHierarchy:
        """Read ARX's hierarchy text: one ``value;level1;…`` line per value, blank lines ignored."""
        rows = [tuple(cell.strip() for cell in line.split(separator)) for line in text.splitlines()]
        return cls(rows=tuple(row for row in rows if row != ("",)))

    def to_text(self) -> str:
        return "".join(";".join(row) + "\n" for row in self.rows)

    @property
    def height(self) -> int:
        """The highest level."""
        return len(self.rows[0]) - 1

    @cached_property
    def table(self) -> Mapping[str, tuple[str, ...]]:
        return {row[0]: row for row in self.rows}

    def generalize(self, value: object, level: int) -> object:
        """``value`` at ``level``; values are looked up by their text form. Raise KeyError if absent."""
        if level == 0:
            return value
        return self.table[str(value)][level]


class IntervalHierarchy(BaseModel):
    """Nested numeric buckets: level i ≥ 1 is ``[origin + j·w, origin + (j+1)·w)`` with ``w = widths[i-1]``.

    The level above the widest is ``*``. Each width is a multiple of the one before, so buckets nest.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    widths: tuple[Width, ...] = Field(max_length=MAX_LEVELS - 1)
    origin: SafeFloat = 0.0

    @model_validator(mode="after")
    def _nested(self) -> IntervalHierarchy:
        for narrow, wide in pairwise(self.widths):
            if wide <= narrow or decimal_of(wide) % decimal_of(narrow) != 0:
                raise ValueError("each width must be a larger multiple of the one before")
        return self

    @property
    def height(self) -> int:
        return len(self.widths) + 1

    @cached_property
    def _decimal_widths(self) -> tuple[Decimal, ...]:
        return tuple(decimal_of(w) for w in self.widths)

    def generalize(self, value: object, level: int) -> object:
        if level == 0:
            return value
        if level > len(self.widths):
            return SUPPRESSED
        return width_label(number_of(value), self._decimal_widths[level - 1], decimal_of(self.origin))


Hierarchy = ValueHierarchy | IntervalHierarchy


def flat_hierarchy(values: Sequence[str]) -> ValueHierarchy:
    """The one-level hierarchy: every value or ``*``."""
    return ValueHierarchy(rows=tuple((v, SUPPRESSED) for v in dict.fromkeys(values)))


# ------------------------------------------------------------------------------------------ buckets


def number_of(value: object) -> Decimal:
    """A finite number as a Decimal of its shortest repr; raise ValueError for anything else."""
    if isinstance(value, bool) or not isinstance(value, int | float | Decimal):
        raise ValueError("not a number")
    number = decimal_of(value)
    if not number.is_finite():
        raise ValueError("not a finite number")
    return number


def decimal_of(value: Number) -> Decimal:
    return Decimal(repr(value)) if isinstance(value, float) else Decimal(value)


def width_label(number: Decimal, width: Decimal, origin: Decimal) -> str:
    offset = number - origin
    low = origin + (offset // width - (1 if offset % width < 0 else 0)) * width  # // truncates toward 0
    return interval_label(low, low + width)


def edges_label(number: Decimal, edges: Sequence[float]) -> str:
    """Open-ended below the first edge and from the last one on."""
    cuts = [decimal_of(e) for e in edges]
    if number < cuts[0]:
        return f"(-inf, {_text(cuts[0])})"
    for low, high in pairwise(cuts):
        if number < high:
            return interval_label(low, high)
    return f"[{_text(cuts[-1])}, +inf)"


def interval_label(low: Decimal, high: Decimal) -> str:
    return f"[{_text(low)}, {_text(high)})"


def _text(number: Decimal) -> str:
    if number == number.to_integral_value():
        return str(int(number))
    return format(number.normalize(), "f")
