"""Typed filters of a job: which operators apply to which field type, and the grid their values must sit on.

Numbers and timestamps take ranges only, with values on the grid the offer's schema declares, so no filter can
isolate less than a whole granule (see ``node.local_compute`` for how a node compares coarsened values).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from datetime import datetime
from enum import StrEnum
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, field_validator

from contracts.canonical import PRINTABLE_PATTERN, SafeFloat
from contracts.exceptions import JobSpecError, SpecErrorCode
from contracts.schema import IDENTIFIER_PATTERN, FieldSpec, FieldType

MAX_IN_VALUES = 1000
MAX_FILTER_TEXT = 256  # a category or an ISO-8601 timestamp

# Every number a spec carries is signed into tickets and logged, so it stays inside canonical JSON.
FieldName = Annotated[str, StringConstraints(pattern=IDENTIFIER_PATTERN)]
FilterText = Annotated[str, StringConstraints(pattern=PRINTABLE_PATTERN, max_length=MAX_FILTER_TEXT)]
FilterScalar = SafeFloat | FilterText
FilterValue = FilterScalar | Annotated[list[FilterScalar], Field(max_length=MAX_IN_VALUES)]


class FilterOp(StrEnum):
    EQ = "eq"
    NE = "ne"
    LT = "lt"
    LE = "le"
    GT = "gt"
    GE = "ge"
    IN = "in"
    BETWEEN = "between"


# Which operators make sense for which field type; text fields are never usable in a job. Numbers and
# timestamps take ranges only, with values on the offer's grid: an equality (eq, ne, in) could pin single
# rows, and ``sum(all) - sum(x ne v)`` would isolate them.
_RANGE_OPS = frozenset({FilterOp.LT, FilterOp.LE, FilterOp.GT, FilterOp.GE, FilterOp.BETWEEN})
_OPS_BY_TYPE: dict[FieldType, frozenset[FilterOp]] = {
    FieldType.NUMBER: _RANGE_OPS,
    FieldType.INTEGER: _RANGE_OPS,
    FieldType.CATEGORY: frozenset({FilterOp.EQ, FilterOp.NE, FilterOp.IN}),
    FieldType.TIMESTAMP: _RANGE_OPS,
}


class Filter(BaseModel):
    """A typed predicate ``field op value``; rows failing any filter of a job are left out.

    Values: a number or an ISO-8601 timestamp string for comparisons on numeric or timestamp fields, a
    declared category for ``eq``/``ne`` on category fields, a list for ``in`` and a ``[lo, hi]`` pair
    (inclusive) for ``between``. Numeric and timestamp fields take ranges only (``lt``, ``le``, ``gt``,
    ``ge``, ``between``), with values on the grid the schema declares (``FieldSpec.filter_granularity``),
    and compare whole granules: see ``node.local_compute``.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    field: FieldName
    op: FilterOp
    value: FilterValue

    @field_validator("value", mode="before")
    @classmethod
    def _reject_booleans(cls, value: Any) -> Any:
        # pydantic would silently turn True into 1.0; a boolean is never a meaningful filter value here.
        items = value if isinstance(value, list) else [value]
        if any(isinstance(item, bool) for item in items):
            raise ValueError("booleans are not valid filter values")
        return value


def parse_timestamp(value: str) -> datetime:
    """Parse an ISO-8601 timestamp filter value; timestamps are naive plant-local time."""
    parsed = datetime.fromisoformat(value)
    if parsed.tzinfo is not None:
        raise ValueError("timestamp filter values must not carry a time zone")
    return parsed


def check_filter(item: Filter, field: FieldSpec) -> None:
    """Raise ``JobSpecError`` unless ``item`` applies to ``field``, with well-formed values on its grid."""
    if item.op not in _OPS_BY_TYPE[field.type]:
        if field.filter_granularity is not None:
            raise _granularity_error(item, field, f"{item.op} is refused")
        raise JobSpecError(
            SpecErrorCode.BAD_FILTER_OP,
            f"operator {item.op} does not apply to {field.type} field {field.name!r}",
            field=field.name,
            op=item.op,
            type=field.type,
        )
    problem = _filter_value_problem(item, field)
    if problem:
        raise JobSpecError(
            SpecErrorCode.BAD_FILTER_VALUE,
            f"filter on {field.name!r}: {problem}",
            field=field.name,
            op=item.op,
            value=item.value,
        )
    problem = _grid_problem(item, field)
    if problem:
        raise _granularity_error(item, field, problem)


def _filter_value_problem(item: Filter, field: FieldSpec) -> str | None:
    values = item.value if isinstance(item.value, list) else [item.value]
    if item.op is FilterOp.IN:
        if not isinstance(item.value, list) or not 1 <= len(values) <= MAX_IN_VALUES:
            return f"'in' needs a list of 1 to {MAX_IN_VALUES} values"
    elif item.op is FilterOp.BETWEEN:
        if not isinstance(item.value, list) or len(values) != 2:
            return "'between' needs a [lo, hi] pair"
    elif isinstance(item.value, list):
        return f"{item.op} needs a single value"
    problem = _scalar_problem(values, field)
    if problem is None and item.op is FilterOp.BETWEEN and not _ordered(values[0], values[1], field):
        problem = "'between' needs lo <= hi"
    return problem


def _scalar_problem(values: Sequence[FilterScalar], field: FieldSpec) -> str | None:
    for value in values:
        if field.type is FieldType.CATEGORY:
            if not isinstance(value, str) or value not in (field.categories or []):
                return f"{value!r} is not a declared category"
        elif field.type is FieldType.TIMESTAMP:
            if not isinstance(value, str):
                return f"{value!r} is not an ISO-8601 timestamp string"
            try:
                parse_timestamp(value)
            except ValueError:
                return f"{value!r} is not a naive ISO-8601 timestamp"
        elif not isinstance(value, float) or not math.isfinite(value):
            return f"{value!r} is not a finite number"
    return None


def _ordered(lo: FilterScalar, hi: FilterScalar, field: FieldSpec) -> bool:
    if field.type is FieldType.TIMESTAMP:
        return parse_timestamp(str(lo)) <= parse_timestamp(str(hi))
    return float(lo) <= float(hi)


def _grid_problem(item: Filter, field: FieldSpec) -> str | None:
    """Why a value of a well-formed range filter is off the field's grid (None if all values are on it)."""
    for value in item.value if isinstance(item.value, list) else [item.value]:
        if field.type is FieldType.TIMESTAMP:
            resolution = field.effective_filter_resolution
            if not _at_start_of(parse_timestamp(str(value)), resolution):
                return f"{value!r} is not at the start of a {resolution}"
        elif field.type.is_numeric and field.grid_point(float(value)) is None:
            return f"{value!r} is not on the grid"
    return None


def _at_start_of(stamp: datetime, resolution: str) -> bool:
    on_the_hour = stamp.minute == stamp.second == stamp.microsecond == 0
    return on_the_hour and (resolution == "hour" or stamp.hour == 0)


def _granularity_error(item: Filter, field: FieldSpec, problem: str) -> JobSpecError:
    if field.type is FieldType.TIMESTAMP:
        resolution = field.effective_filter_resolution
        start = "midnight" if resolution == "day" else "the whole hour"
        allowed = f"by whole {resolution}s (lt, le, gt, ge or between, with values at {start})"
    else:
        step = f"{field.effective_filter_step:.12g}"
        allowed = f"on a grid of step {step} (lt, le, gt, ge or between, with multiples of {step})"
    return JobSpecError(
        SpecErrorCode.FILTER_GRANULARITY,
        f"filter on {field.name!r}: {problem}; the offer allows filters on {field.name!r} only {allowed}",
        field=field.name,
        op=item.op,
        value=item.value,
        granularity=field.filter_granularity,
    )
