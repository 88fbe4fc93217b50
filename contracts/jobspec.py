"""Typed job specifications, their validation against a dataset schema, and the statistics-vector layout.

A job never carries SQL: it names fields of the public schema and typed predicates over them. The layout of
the vector every node computes follows from the spec and the schema alone, so all parties agree on it.
"""

from __future__ import annotations

import dataclasses
import itertools
import math
from collections.abc import Sequence
from datetime import datetime
from enum import StrEnum
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, field_validator

from contracts.canonical import PRINTABLE_PATTERN, SafeFloat
from contracts.exceptions import JobSpecError, SpecErrorCode
from contracts.schema import IDENTIFIER_PATTERN, DatasetSchema, FieldSpec, FieldType

MAX_FILTERS = 32
MAX_IN_VALUES = 1000
MAX_BIN_EDGES = 1001
MAX_FEATURES = 16
MAX_VECTOR_LENGTH = 100_000
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


class JobKind(StrEnum):
    COUNT = "count"
    SUM = "sum"
    MEAN = "mean"
    VARIANCE = "variance"
    HISTOGRAM = "histogram"
    LINEAR_REGRESSION = "linear_regression"


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
_MEASURE_KINDS = frozenset({JobKind.SUM, JobKind.MEAN, JobKind.VARIANCE, JobKind.HISTOGRAM})


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


class JobSpec(BaseModel):
    """What a buyer asks for. Validate with ``validate_spec`` against the dataset's public schema."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    kind: JobKind
    dataset: str = Field(pattern=IDENTIFIER_PATTERN)
    field: FieldName | None = None
    group_by: FieldName | None = None
    bins: list[SafeFloat] | None = Field(default=None, max_length=MAX_BIN_EDGES)
    features: list[FieldName] = Field(default_factory=list, max_length=MAX_FEATURES)
    target: FieldName | None = None
    filters: list[Filter] = Field(default_factory=list, max_length=MAX_FILTERS)
    # Fewer than three contributors lets any one of them subtract its own vector from the sum and read the
    # other's exactly, so three is the floor.
    min_participants: int = Field(default=3, ge=3, le=10_000)
    precision_bits: int = Field(default=16, ge=0, le=48)
    # Differential privacy: this job's share of the contract's epsilon budget (at the contract's delta).
    # Without it the figures are exact, which a contract carrying a budget refuses.
    epsilon: float | None = Field(default=None, gt=0, le=10, allow_inf_nan=False)

    def measured_fields(self) -> list[str]:
        """Fields whose values enter the statistics (not counting group-by and filters)."""
        if self.kind is JobKind.LINEAR_REGRESSION:
            return [*self.features, *([self.target] if self.target else [])]
        return [self.field] if self.field else []

    def used_fields(self) -> list[str]:
        """Every field the job reads, in first-use order; a row with NULL in any of them is excluded."""
        names = [*self.measured_fields(), *([self.group_by] if self.group_by else [])]
        names += [f.field for f in self.filters]
        return list(dict.fromkeys(names))


def parse_timestamp(value: str) -> datetime:
    """Parse an ISO-8601 timestamp filter value; timestamps are naive plant-local time."""
    parsed = datetime.fromisoformat(value)
    if parsed.tzinfo is not None:
        raise ValueError("timestamp filter values must not carry a time zone")
    return parsed


# ---------------------------------------------------------------------------------------------- layout


@dataclasses.dataclass(frozen=True)
class Term:
    """One statistic per group: the sum over eligible rows of a product of centred fields or a bin indicator.

    ``factors == ()`` with no bin is the row count ``n``; with ``outside`` it counts the rows outside a
    histogram's edges.
    """

    factors: tuple[str, ...] = ()
    bin_field: str | None = None
    bin_lo: float = 0.0
    bin_hi: float = 0.0
    bin_closed: bool = False  # numpy closes the last histogram bin on the right
    outside: bool = False

    @property
    def label(self) -> str:
        if self.bin_field is not None:
            right = "]" if self.bin_closed else ")"
            return f"bin({self.bin_field} in [{self.bin_lo:g},{self.bin_hi:g}{right})"
        if self.outside:
            return "outside"
        if not self.factors:
            return "n"
        if len(self.factors) == 2 and self.factors[0] == self.factors[1]:
            return f"sum(({self.factors[0]}-c)^2)"
        return "sum(" + "*".join(f"({name}-c)" for name in self.factors) + ")"


@dataclasses.dataclass(frozen=True)
class Cell:
    """A released figure: terms that are released (or withheld) together, one group at a time.

    ``rows_term`` counts the rows behind the cell; a factory contributes the cell only when it has at least
    the contract's ``min_rows_per_factory`` of them, and says so with a 0/1 indicator summed securely.
    """

    terms: tuple[int, ...]
    rows_term: int
    label: str


@dataclasses.dataclass(frozen=True)
class VectorLayout:
    """Order and meaning of the float64 vector, group-major.

    Each group holds its ``terms``, then one cohort indicator per cell.
    """

    kind: JobKind
    group_by: str | None
    groups: tuple[str | None, ...]
    terms: tuple[Term, ...]
    centres: dict[str, float] = dataclasses.field(hash=False)
    # Largest absolute contribution one row can make to each term (after clipping), for overflow planning.
    term_row_bounds: tuple[float, ...] = ()
    cells: tuple[Cell, ...] = ()

    @property
    def per_group(self) -> int:
        return len(self.terms) + len(self.cells)

    @property
    def length(self) -> int:
        return len(self.groups) * self.per_group

    def __len__(self) -> int:
        return self.length

    @property
    def names(self) -> tuple[str, ...]:
        labels = [term.label for term in self.terms] + [f"cohort({cell.label})" for cell in self.cells]
        return tuple(
            label if group is None else f"{label}[{self.group_by}={group}]"
            for group in self.groups
            for label in labels
        )

    @property
    def row_bounds(self) -> tuple[float, ...]:
        """Per-row bounds for the whole vector (one row falls into one group only; an indicator is 0 or 1)."""
        return (self.term_row_bounds + (1.0,) * len(self.cells)) * len(self.groups)

    @property
    def terms_touched_by_a_row(self) -> int:
        """How many terms of its group one row can change: one bin of a histogram, every term otherwise."""
        return 1 if self.kind is JobKind.HISTOGRAM else len(self.terms)

    def index(self, name: str) -> int:
        return self.names.index(name)

    def group_slice(self, group_index: int) -> slice:
        """The statistics of one group (without its indicators)."""
        start = group_index * self.per_group
        return slice(start, start + len(self.terms))

    def indicator_slice(self, group_index: int) -> slice:
        """The cohort indicators of one group, one per cell."""
        start = group_index * self.per_group + len(self.terms)
        return slice(start, start + len(self.cells))


def vector_layout(spec: JobSpec, schema: DatasetSchema) -> VectorLayout:
    """Validate ``spec`` and return the layout of its statistics vector."""
    validate_spec(spec, schema)
    return _build_layout(spec, schema)


def _build_layout(spec: JobSpec, schema: DatasetSchema) -> VectorLayout:
    terms = _terms(spec)
    measured = [schema.field(name) for name in spec.measured_fields()]
    half = {f.name: f.half_width for f in measured}
    bounds = tuple(math.prod(half[name] for name in term.factors) for term in terms)
    groups: tuple[str | None, ...] = (None,)
    if spec.group_by is not None:
        groups = tuple(schema.field(spec.group_by).categories or ())
    return VectorLayout(
        kind=spec.kind,
        group_by=spec.group_by,
        groups=groups,
        terms=terms,
        centres={f.name: f.centre for f in measured},
        term_row_bounds=bounds,
        cells=_cells(spec.kind, terms),
    )


def _cells(kind: JobKind, terms: tuple[Term, ...]) -> tuple[Cell, ...]:
    """How the terms of one group are released.

    A histogram releases each bin (and the rows outside the edges) as its own cell; every other kind
    releases a group's statistics together, and a regression is one cell.
    """
    if kind is JobKind.HISTOGRAM:
        return tuple(Cell(terms=(i,), rows_term=i, label=term.label) for i, term in enumerate(terms))
    return (Cell(terms=tuple(range(len(terms))), rows_term=0, label=str(kind)),)


def _terms(spec: JobSpec) -> tuple[Term, ...]:
    count = Term()
    if spec.kind is JobKind.COUNT:
        return (count,)
    if spec.kind is JobKind.HISTOGRAM:
        # Rows outside the edges, not the group's total: a total next to withheld bins would give them away.
        return (Term(outside=True), *_bin_terms(spec.field or "", spec.bins or []))
    if spec.kind is JobKind.LINEAR_REGRESSION:
        return (count, *_regression_terms(spec.features, spec.target or ""))
    x = spec.field or ""
    if spec.kind is JobKind.VARIANCE:
        return (count, Term((x,)), Term((x, x)))
    return (count, Term((x,)))


def _bin_terms(name: str, edges: Sequence[float]) -> list[Term]:
    last = len(edges) - 2
    return [
        Term(bin_field=name, bin_lo=lo, bin_hi=hi, bin_closed=(i == last))
        for i, (lo, hi) in enumerate(itertools.pairwise(edges))
    ]


def _regression_terms(features: Sequence[str], target: str) -> list[Term]:
    p = len(features)
    first = [Term((f,)) for f in features]
    cross = [Term((features[j], features[k])) for j in range(p) for k in range(j, p)]
    with_target = [Term((f, target)) for f in features]
    return [*first, *cross, *with_target, Term((target,)), Term((target, target))]


# ------------------------------------------------------------------------------------------ validation


def validate_spec(spec: JobSpec, schema: DatasetSchema) -> None:
    """Raise ``JobSpecError`` (with a machine-readable code) unless ``spec`` is valid for ``schema``."""
    if spec.dataset != schema.name:
        raise JobSpecError(
            SpecErrorCode.DATASET_MISMATCH,
            f"job targets dataset {spec.dataset!r} but the schema is {schema.name!r}",
            dataset=spec.dataset,
            schema=schema.name,
        )
    _check_kind_parameters(spec)
    for name in spec.measured_fields():
        _require_numeric(_usable_field(schema, name), spec.kind)
    if spec.group_by is not None:
        _check_group_by(_usable_field(schema, spec.group_by))
    if spec.kind is JobKind.HISTOGRAM:
        _check_bins(spec.bins or [], schema.field(spec.field or ""))
    if spec.kind is JobKind.LINEAR_REGRESSION:
        _check_features(spec.features, spec.target or "")
    for item in spec.filters:
        _check_filter(item, _usable_field(schema, item.field))
    length = _build_layout(spec, schema).length
    if length > MAX_VECTOR_LENGTH:
        raise JobSpecError(
            SpecErrorCode.VECTOR_TOO_LONG,
            f"the job needs {length} statistics, more than the limit of {MAX_VECTOR_LENGTH}",
            length=length,
            limit=MAX_VECTOR_LENGTH,
        )


def _check_kind_parameters(spec: JobSpec) -> None:
    kind = spec.kind
    wants = {
        "field": kind in _MEASURE_KINDS,
        "bins": kind is JobKind.HISTOGRAM,
        "features": kind is JobKind.LINEAR_REGRESSION,
        "target": kind is JobKind.LINEAR_REGRESSION,
    }
    given = {
        "field": spec.field is not None,
        "bins": spec.bins is not None,
        "features": bool(spec.features),
        "target": spec.target is not None,
    }
    for name, wanted in wants.items():
        if wanted and not given[name]:
            raise JobSpecError(
                SpecErrorCode.MISSING_PARAMETER, f"{kind} needs {name}", kind=kind, parameter=name
            )
        if given[name] and not wanted:
            raise JobSpecError(
                SpecErrorCode.UNEXPECTED_PARAMETER, f"{kind} takes no {name}", kind=kind, parameter=name
            )
    if kind is JobKind.LINEAR_REGRESSION and spec.group_by is not None:
        raise JobSpecError(
            SpecErrorCode.GROUP_BY_NOT_SUPPORTED, "linear_regression cannot be grouped", kind=kind
        )


def _usable_field(schema: DatasetSchema, name: str) -> FieldSpec:
    if not schema.has_field(name):
        raise JobSpecError(
            SpecErrorCode.UNKNOWN_FIELD, f"dataset {schema.name!r} has no field {name!r}", field=name
        )
    spec = schema.field(name)
    if spec.personal:
        raise JobSpecError(
            SpecErrorCode.PERSONAL_FIELD, f"field {name!r} holds personal information", field=name
        )
    if spec.type is FieldType.TEXT:
        raise JobSpecError(
            SpecErrorCode.FIELD_TYPE_NOT_ALLOWED, f"free-text field {name!r} cannot be used", field=name
        )
    return spec


def _require_numeric(field: FieldSpec, kind: JobKind) -> None:
    if not field.type.is_numeric:
        raise JobSpecError(
            SpecErrorCode.FIELD_TYPE_NOT_ALLOWED,
            f"{kind} needs a number or integer field, {field.name!r} is {field.type}",
            field=field.name,
            type=field.type,
            kind=kind,
        )


def _check_group_by(field: FieldSpec) -> None:
    if field.type is not FieldType.CATEGORY:
        raise JobSpecError(
            SpecErrorCode.GROUP_BY_NOT_CATEGORY,
            f"group_by needs a category field, {field.name!r} is {field.type}",
            field=field.name,
            type=field.type,
        )


def _check_bins(edges: Sequence[float], field: FieldSpec) -> None:
    problem = None
    if not 2 <= len(edges) <= MAX_BIN_EDGES:
        problem = f"a histogram needs between 2 and {MAX_BIN_EDGES} bin edges"
    elif not all(math.isfinite(e) for e in edges):
        problem = "bin edges must be finite"
    elif any(b <= a for a, b in itertools.pairwise(edges)):
        problem = "bin edges must be strictly increasing"
    elif edges[0] < field.lower or edges[-1] > field.upper:
        problem = f"bin edges must lie within the bounds [{field.lower:g}, {field.upper:g}] of {field.name!r}"
    if problem:
        raise JobSpecError(SpecErrorCode.BAD_BINS, problem, field=field.name, bins=list(edges))


def _check_features(features: Sequence[str], target: str) -> None:
    problem = None
    if len(features) > MAX_FEATURES:
        problem = f"at most {MAX_FEATURES} features"
    elif len(set(features)) != len(features):
        problem = "features must be distinct"
    elif target in features:
        problem = "the target cannot also be a feature"
    if problem:
        raise JobSpecError(SpecErrorCode.BAD_FEATURES, problem, features=list(features), target=target)


def _check_filter(item: Filter, field: FieldSpec) -> None:
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
