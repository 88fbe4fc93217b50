"""Typed job specifications, their validation against a dataset schema, and the statistics-vector layout.

A job never carries SQL: it names fields of the public schema and typed predicates over them. The layout of
the vector every node computes follows from the spec and the schema alone, so all parties agree on it.
An ``extract`` is the one kind that releases rows: it names ``columns`` instead of statistics, and what it
may release is decided by the contract's extract terms (``contracts.extracts.grant``), not by the schema.
"""

from __future__ import annotations

import dataclasses
import itertools
import math
from collections.abc import Sequence
from enum import StrEnum
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field

from contracts.canonical import SafeFloat
from contracts.exceptions import JobSpecError, SpecErrorCode
from contracts.filters import FieldName, Filter, check_filter
from contracts.schema import IDENTIFIER_PATTERN, DatasetSchema, FieldSpec, FieldType
from protocols.psi import normalize

MAX_FILTERS = 32
MAX_BIN_EDGES = 1001
MAX_FEATURES = 16
MAX_VECTOR_LENGTH = 100_000
MAX_COLUMNS = 200
MAX_SCORE_DEGREE = 6
MAX_SCORE_OUTPUTS = 8
# Monomials of the scoring basis must fit the slots of the scoring set, less one. Only ckks-8192 is offered
# for jobs: ckks-16384's public context with Galois keys (~300 MB) is too large to send to every node.
MAX_MONOMIALS = 4095
SCORING_PARAMETER_SETS = ("ckks-8192",)
SHA256_HEX = r"^[0-9a-f]{64}$"


class JobKind(StrEnum):
    COUNT = "count"
    SUM = "sum"
    MEAN = "mean"
    VARIANCE = "variance"
    HISTOGRAM = "histogram"
    LINEAR_REGRESSION = "linear_regression"
    # Desensitized, k-anonymous rows; only under a contract whose terms name it and carry extract terms.
    EXTRACT = "extract"
    # A buyer's private model f(w·x + b), encrypted under the buyer's key, summed per group (``scoring``).
    ENCRYPTED_SCORING = "encrypted_scoring"
    # How many of the buyer's keys (e.g. supplier credit codes) the factories' key field also holds, summed
    # over the cohort; the buyer answers each factory's blinded keys during the run (``protocols.psi``).
    PSI_CARDINALITY = "psi_cardinality"
    # The sum of a factory field over the rows whose key is on the buyer's list, after Private Join and
    # Compute: the buyer does the matching, so it also learns each factory's intersection size.
    PSI_SUM = "psi_sum"


_MEASURE_KINDS = frozenset({JobKind.SUM, JobKind.MEAN, JobKind.VARIANCE, JobKind.HISTOGRAM})
PSI_KINDS = frozenset({JobKind.PSI_CARDINALITY, JobKind.PSI_SUM})
_UNGROUPED_KINDS = frozenset({JobKind.LINEAR_REGRESSION, JobKind.EXTRACT, *PSI_KINDS})


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
    # The fields an extract releases (each under the contract's rule for it); no other kind takes any.
    columns: list[FieldName] = Field(
        default_factory=list, max_length=MAX_COLUMNS, exclude_if=lambda columns: not columns
    )
    # Encrypted scoring: the degree of the buyer's score polynomials (the monomial basis every node sums),
    # the names of its outputs, the HE parameter set, and the SHA-256 of the buyer's uploaded input.
    degree: int | None = Field(default=None, ge=1, le=MAX_SCORE_DEGREE, exclude_if=lambda v: v is None)
    outputs: list[Annotated[str, Field(pattern=IDENTIFIER_PATTERN)]] = Field(
        default_factory=list, max_length=MAX_SCORE_OUTPUTS, exclude_if=lambda outputs: not outputs
    )
    he_params: str | None = Field(default=None, exclude_if=lambda v: v is None)
    input_digest: str | None = Field(default=None, pattern=SHA256_HEX, exclude_if=lambda v: v is None)
    # Private set intersection: the factories' field holding the keys, and the normalisation both sides
    # apply before hashing (``protocols.psi.normalize``).
    key_field: FieldName | None = Field(default=None, exclude_if=lambda v: v is None)
    normalization: str | None = Field(default=None, exclude_if=lambda v: v is None)
    # Fewer than three contributors lets any one of them subtract its own vector from the sum and read the
    # other's exactly, so three is the floor.
    min_participants: int = Field(default=3, ge=3, le=10_000)
    precision_bits: int = Field(default=16, ge=0, le=48)
    # Differential privacy: this job's share of the contract's epsilon budget (at the contract's delta).
    # Without it the figures are exact, which a contract carrying a budget refuses.
    epsilon: float | None = Field(default=None, gt=0, le=10, allow_inf_nan=False)

    def measured_fields(self) -> list[str]:
        """Fields whose values enter the statistics (not counting group-by and filters), or the extract."""
        if self.kind is JobKind.EXTRACT:
            return list(self.columns)
        if self.kind is JobKind.LINEAR_REGRESSION:
            return [*self.features, *([self.target] if self.target else [])]
        if self.kind is JobKind.ENCRYPTED_SCORING:
            return list(self.features)
        if self.kind in PSI_KINDS:
            return [name for name in (self.key_field, self.field) if name]
        return [self.field] if self.field else []

    def used_fields(self) -> list[str]:
        """Every field the job reads, in first-use order; a row with NULL in any of them is excluded."""
        names = [*self.measured_fields(), *([self.group_by] if self.group_by else [])]
        names += [f.field for f in self.filters]
        return list(dict.fromkeys(names))


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
    # A monomial of the features scaled to [-1, 1] by their bounds (encrypted scoring), not centred.
    scaled: bool = False

    @property
    def label(self) -> str:
        if self.scaled and self.factors:
            powers = {name: self.factors.count(name) for name in dict.fromkeys(self.factors)}
            return "sum(" + "*".join(f"u({n})" + (f"^{k}" if k > 1 else "") for n, k in powers.items()) + ")"
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
    if spec.kind is JobKind.EXTRACT:
        raise ValueError("an extract releases rows and computes no statistics vector")
    return _build_layout(spec, schema)


def _build_layout(spec: JobSpec, schema: DatasetSchema) -> VectorLayout:
    terms = _terms(spec)
    # A set intersection's key field is read, not measured: only numbers have bounds and centres.
    measured = [schema.field(name) for name in spec.measured_fields() if schema.field(name).type.is_numeric]
    half = {f.name: f.half_width for f in measured}
    # A scaled monomial is at most 1 in absolute value; a centred product at most its half-widths' product.
    bounds = tuple(1.0 if term.scaled else math.prod(half[name] for name in term.factors) for term in terms)
    groups: tuple[str | None, ...] = (None,)
    if spec.group_by is not None:
        groups = tuple(schema.field(spec.group_by).categories or ())
    return VectorLayout(
        kind=spec.kind,
        group_by=spec.group_by,
        groups=groups,
        terms=terms,
        centres={f.name: f.centre for f in measured},  # the midpoint of the bounds, for scaled terms too
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
    if spec.kind is JobKind.ENCRYPTED_SCORING:
        return monomial_terms(spec.features, spec.degree or 1)
    if spec.kind in PSI_KINDS:  # one count: the factory's keys on the buyer's list, or that it took part
        return (count,)
    x = spec.field or ""
    if spec.kind is JobKind.VARIANCE:
        return (count, Term((x,)), Term((x, x)))
    return (count, Term((x,)))


def monomial_terms(features: Sequence[str], degree: int) -> tuple[Term, ...]:
    """Every monomial of total degree <= ``degree`` in the scaled features.

    The constant (the row count) first, then by degree, within a degree in ``combinations_with_replacement``
    order: the basis of ``protocols.he.monomials``, which the buyer's coefficients follow.
    """
    return tuple(
        Term(tuple(combo), scaled=True)
        for k in range(degree + 1)
        for combo in itertools.combinations_with_replacement(features, k)
    )


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
    if spec.kind is JobKind.EXTRACT:  # the columns are checked against the contract's extract terms
        for item in spec.filters:
            check_filter(item, _usable_field(schema, item.field))
        return
    if spec.kind in PSI_KINDS:
        _check_key_field(schema, spec)
        if spec.kind is JobKind.PSI_SUM:
            _check_summed_field(_usable_field(schema, spec.field or ""))
        for item in spec.filters:
            check_filter(item, _usable_field(schema, item.field))
        return
    for name in spec.measured_fields():
        _require_numeric(_usable_field(schema, name), spec.kind)
    if spec.group_by is not None:
        _check_group_by(_usable_field(schema, spec.group_by))
    if spec.kind is JobKind.HISTOGRAM:
        _check_bins(spec.bins or [], schema.field(spec.field or ""))
    if spec.kind is JobKind.LINEAR_REGRESSION:
        _check_features(spec.features, spec.target or "")
    if spec.kind is JobKind.ENCRYPTED_SCORING:
        _check_scoring(spec)
    for item in spec.filters:
        check_filter(item, _usable_field(schema, item.field))
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
        "field": kind in _MEASURE_KINDS or kind is JobKind.PSI_SUM,
        "bins": kind is JobKind.HISTOGRAM,
        "features": kind in (JobKind.LINEAR_REGRESSION, JobKind.ENCRYPTED_SCORING),
        "target": kind is JobKind.LINEAR_REGRESSION,
        "columns": kind is JobKind.EXTRACT,
        "degree": kind is JobKind.ENCRYPTED_SCORING,
        "outputs": kind is JobKind.ENCRYPTED_SCORING,
        "he_params": kind is JobKind.ENCRYPTED_SCORING,
        "input_digest": kind is JobKind.ENCRYPTED_SCORING,
        "key_field": kind in PSI_KINDS,
        "normalization": kind in PSI_KINDS,
    }
    given = {
        "field": spec.field is not None,
        "bins": spec.bins is not None,
        "features": bool(spec.features),
        "target": spec.target is not None,
        "columns": bool(spec.columns),
        "degree": spec.degree is not None,
        "outputs": bool(spec.outputs),
        "he_params": spec.he_params is not None,
        "input_digest": spec.input_digest is not None,
        "key_field": spec.key_field is not None,
        "normalization": spec.normalization is not None,
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
    if kind in _UNGROUPED_KINDS and spec.group_by is not None:
        raise JobSpecError(SpecErrorCode.GROUP_BY_NOT_SUPPORTED, f"{kind} cannot be grouped", kind=kind)
    if kind is JobKind.PSI_SUM and spec.epsilon is not None:
        # The total is read by the buyer alone (a discrete logarithm): nobody could add noise to it.
        raise JobSpecError(
            SpecErrorCode.UNEXPECTED_PARAMETER, "psi_sum takes no epsilon", kind=kind, parameter="epsilon"
        )
    if kind is JobKind.EXTRACT and spec.epsilon is not None:
        # Rows are protected by desensitization and k-anonymity, not by noise: no budget is spent.
        raise JobSpecError(
            SpecErrorCode.UNEXPECTED_PARAMETER, "extract takes no epsilon", kind=kind, parameter="epsilon"
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


def _check_scoring(spec: JobSpec) -> None:
    _check_features(spec.features, "")
    problem = None
    monomials = math.comb(len(spec.features) + (spec.degree or 1), spec.degree or 1)
    if spec.he_params not in SCORING_PARAMETER_SETS:
        problem = f"he_params must be one of {', '.join(SCORING_PARAMETER_SETS)}"
    elif len(set(spec.outputs)) != len(spec.outputs):
        problem = "outputs must be distinct"
    elif monomials > MAX_MONOMIALS:
        problem = (
            f"{len(spec.features)} features at degree {spec.degree} need {monomials} monomials, "
            f"more than the {MAX_MONOMIALS} a ciphertext holds"
        )
    if problem:
        raise JobSpecError(SpecErrorCode.BAD_FEATURES, problem, features=list(spec.features))


def _check_key_field(schema: DatasetSchema, spec: JobSpec) -> None:
    """A key field may be free text (identifiers are), but never personal, and never a number or a time."""
    if spec.normalization not in normalize.names():
        raise JobSpecError(
            SpecErrorCode.BAD_FEATURES,
            f"normalization must be one of {', '.join(normalize.names())}",
            normalization=spec.normalization,
        )
    name = spec.key_field or ""
    if not schema.has_field(name):
        raise JobSpecError(
            SpecErrorCode.UNKNOWN_FIELD, f"dataset {schema.name!r} has no field {name!r}", field=name
        )
    field = schema.field(name)
    if field.personal:
        raise JobSpecError(
            SpecErrorCode.PERSONAL_FIELD, f"field {name!r} holds personal information", field=name
        )
    if field.type not in (FieldType.TEXT, FieldType.CATEGORY):
        raise JobSpecError(
            SpecErrorCode.FIELD_TYPE_NOT_ALLOWED,
            f"a key field holds text or categories, {name!r} is {field.type}",
            field=name,
        )


def _check_summed_field(field: FieldSpec) -> None:
    """Summed values are whole non-negative units of the field (a sum of encrypted exponents)."""
    if not field.type.is_numeric or field.lower < 0:
        raise JobSpecError(
            SpecErrorCode.FIELD_TYPE_NOT_ALLOWED,
            f"psi_sum adds a number field with non-negative bounds, {field.name!r} is not one",
            field=field.name,
        )
