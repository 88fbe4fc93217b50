"""A node's local part of a joint-analysis job: the statistics vector over its own files, computed in DuckDB.

The result follows ``contracts.jobspec.vector_layout`` exactly. A CSV file is read with the columns its own
header names, as text and without sniffing, so a line with the wrong number of cells, an open quote or
invalid UTF-8 in a column read fails the whole scan (a ``DataError``) rather than being guessed around.
Definition of the rows that count:

* every cell is cast to its schema type; a cell that does not parse, a non-finite number and a fractional
  value in an integer field are NULL;
* numeric values are clipped to the declared ``[min, max]`` *before* anything else, filters included: the
  clipping is part of the statistic, and it bounds what a single row can contribute;
* a row is eligible when none of the fields the job uses is NULL, every category field it uses holds a
  declared category, and it passes all filters;
* a filter on a number or timestamp compares the *coarsened* value, so it keeps or drops whole granules of
  the offer's grid, never part of one: a timestamp is truncated to the start of its day or hour
  (``date_trunc``), a clipped number ``x`` becomes ``floor(x / step) * step``, where a quotient within
  ``GRID_TOLERANCE`` of an integer counts as that integer (0.3 with step 0.1 starts granule 3, although
  0.3 / 0.1 < 3 in binary floating point). Filter values lie on the grid (``validate_spec``), so with
  whole days ``ts <= D`` keeps all of day D, ``ts < D`` none of it, and ``between [D1, D2]`` the whole
  days D1 to D2; with step 20, ``x < 1600`` keeps values below 1600 and ``x <= 1600`` those below 1620.

Filter values, bounds, centres, bin edges and categories reach SQL only as bound parameters; field names
are schema identifiers (validated against a strict pattern) and are quoted as well.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Sequence
from pathlib import Path
from typing import Any, Literal

import duckdb
import numpy as np
from numpy.typing import NDArray

from contracts.filters import Filter, FilterOp, parse_timestamp
from contracts.jobspec import JobKind, JobSpec, Term, VectorLayout, vector_layout
from contracts.schema import GRID_TOLERANCE, DatasetSchema, FieldSpec, FieldType
from node import engine
from node.datafiles import csv_header
from node.exceptions import DataMissing, DataUnreadable, LocalComputeError, SchemaMismatch

SourceFormat = Literal["csv", "parquet"]

_SQL_TYPES = {
    FieldType.NUMBER: "DOUBLE",
    FieldType.INTEGER: "DOUBLE",  # parsed as a number so that a fractional cell can be told apart
    FieldType.CATEGORY: "VARCHAR",
    FieldType.TEXT: "VARCHAR",
    FieldType.TIMESTAMP: "TIMESTAMP",
}
_COMPARISONS = {
    FilterOp.EQ: "=",
    FilterOp.NE: "<>",
    FilterOp.LT: "<",
    FilterOp.LE: "<=",
    FilterOp.GT: ">",
    FilterOp.GE: ">=",
}
CSV_OPTIONS = "header = true, auto_detect = false, delim = ',', quote = '\"', escape = '\"'"


def local_vector(
    spec: JobSpec, schema: DatasetSchema, dataset_files: Sequence[Path], fmt: SourceFormat
) -> NDArray[np.float64]:
    """Validate ``spec`` and compute this node's statistics vector over ``dataset_files``.

    A file that cannot be read as the schema says raises a ``DataError`` whose code and reason may be sent to
    the coordinator; DuckDB's own message, which can quote a line of the file, stays in its detail.
    """
    layout = vector_layout(spec, schema)
    files = _checked_files(dataset_files)
    sql, params = build_query(spec, schema, layout, files, fmt)
    try:
        with engine.shared().cursor() as con:
            rows = con.execute(sql, params).fetchall()
    except duckdb.Error as exc:
        raise _classified(exc, spec, files) from exc
    return _assemble(layout, rows)


def local_keys(
    spec: JobSpec, schema: DatasetSchema, dataset_files: Sequence[Path], fmt: SourceFormat
) -> list[tuple[Any, ...]]:
    """The key (and, for a sum, the clipped value) of each row a set-intersection job reads.

    Filters apply; rows with an empty key or value are left out. The keys stay on the node: they are
    normalised and blinded here before anything leaves.
    """
    vector_layout(spec, schema)  # validates the spec
    files = _checked_files(dataset_files)
    params = Params()
    columns = ", ".join(quote(name) for name in spec.measured_fields())
    sql = _eligible_rows(spec, schema, files, fmt, params) + f"\nSELECT {columns} FROM eligible"
    try:
        with engine.shared().cursor() as con:
            rows = con.execute(sql, params.values).fetchall()
    except duckdb.Error as exc:
        raise _classified(exc, spec, files) from exc
    return [(str(row[0]), *row[1:]) for row in rows]


def _checked_files(dataset_files: Sequence[Path]) -> list[str]:
    if not dataset_files:
        raise DataMissing("the dataset has no files")
    missing = [str(p) for p in dataset_files if not Path(p).is_file()]
    if missing:
        raise DataMissing("a dataset file was not found", f"dataset files not found: {', '.join(missing)}")
    return [str(Path(p).resolve()) for p in dataset_files]


def _classified(exc: duckdb.Error, spec: JobSpec, files: list[str]) -> LocalComputeError:
    """The data error behind a failed query, with a reason that quotes nothing of the file."""
    what, detail = f"cannot compute {spec.kind}", f"{type(exc).__name__}: {exc}"
    if isinstance(exc, duckdb.IOException):
        if not all(Path(f).is_file() for f in files):
            return DataMissing(f"{what}: a dataset file disappeared", detail)
        return DataUnreadable(f"{what}: a dataset file cannot be read", detail)
    if isinstance(exc, duckdb.BinderException):
        return SchemaMismatch(f"{what}: a field the job uses is not in the dataset files", detail)
    if isinstance(exc, duckdb.InvalidInputException | duckdb.ConversionException):
        return DataUnreadable(f"{what}: {_symptom(str(exc))}", detail)
    return LocalComputeError(f"{what} over {len(files)} file(s): {exc}")


def _symptom(message: str) -> str:
    lowered = message.lower()
    if "unicode" in lowered or "encoding" in lowered:
        return "a dataset file is not valid UTF-8"
    if "csv error" in lowered or "number of columns" in lowered or "quote" in lowered:
        return "a dataset file has a malformed line"
    if "parquet" in lowered or "magic" in lowered:
        return "a Parquet file is corrupt or truncated"
    return "a dataset file cannot be parsed"


class Params:
    """Collects bound parameters and hands out their placeholders."""

    def __init__(self) -> None:
        self.values: dict[str, Any] = {}

    def bind(self, value: Any) -> str:
        name = f"p{len(self.values)}"
        self.values[name] = value
        return f"${name}"

    def bind_all(self, values: Iterable[Any]) -> str:
        return ", ".join(self.bind(v) for v in values)


def quote(name: str) -> str:
    """Quote an SQL identifier (names are already restricted by the schema pattern)."""
    return '"' + name.replace('"', '""') + '"'


def build_query(
    spec: JobSpec, schema: DatasetSchema, layout: VectorLayout, files: list[str], fmt: SourceFormat
) -> tuple[str, dict[str, Any]]:
    """Return the SQL text and its parameters.

    Moment kinds yield one row per non-empty group: ``[group,] term values...``; histograms yield
    ``[group,] bin index or NULL (outside the edges), row count`` per occupied bin.
    """
    params = Params()
    eligible = _eligible_rows(spec, schema, files, fmt, params)
    group = [quote(spec.group_by)] if spec.group_by else []
    if layout.kind is JobKind.HISTOGRAM:
        return eligible + _histogram_select(layout, group, params), params.values
    measured = spec.measured_fields()
    centred = [f"{_centred(schema.field(name), layout, params)} AS z{i}" for i, name in enumerate(measured)]
    columns = ", ".join([*group, *centred]) or "1 AS one"
    aggregates = ", ".join(_aggregate(term, measured) for term in layout.terms)
    sql = (
        f"{eligible},\ncentred AS (SELECT {columns} FROM eligible)\n"
        f"SELECT {', '.join([*group, aggregates])} FROM centred" + (f" GROUP BY {group[0]}" if group else "")
    )
    return sql, params.values


def _centred(field: FieldSpec, layout: VectorLayout, params: Params) -> str:
    """``x - centre``; for encrypted scoring ``(x - centre) / half-width``, in [-1, 1].

    The buyer's coefficients are written for monomials of the scaled value (``protocols.he.monomials``).
    """
    centred = f"{quote(field.name)} - {params.bind(layout.centres[field.name])}"
    if layout.kind is JobKind.ENCRYPTED_SCORING:
        return f"({centred}) / {params.bind(field.half_width)}"
    return centred


def _eligible_rows(
    spec: JobSpec, schema: DatasetSchema, files: list[str], fmt: SourceFormat, params: Params
) -> str:
    """CTEs ending in ``eligible``: the used fields, typed and clipped, of the rows the job counts."""
    fields = [schema.field(name) for name in spec.used_fields()]
    typed = ", ".join(f"TRY_CAST({quote(f.name)} AS {_SQL_TYPES[f.type]}) AS {quote(f.name)}" for f in fields)
    clipped = ", ".join(_clipped(f, params) for f in fields)
    conditions = [f"{quote(f.name)} IS NOT NULL" for f in fields]
    conditions += [
        f"{quote(f.name)} IN ({params.bind_all(f.categories or [])})"
        for f in fields
        if f.type is FieldType.CATEGORY
    ]
    conditions += [_condition(item, schema.field(item.field), params) for item in spec.filters]
    return (
        f"WITH typed AS (SELECT {typed or '1 AS one'} FROM {_source(fmt, files, schema, params)}),\n"
        f"clipped AS (SELECT {clipped or 'one'} FROM typed),\n"
        f"eligible AS (SELECT * FROM clipped WHERE {' AND '.join(conditions) or 'TRUE'})"
    )


def _histogram_select(layout: VectorLayout, group: list[str], params: Params) -> str:
    # An as-of join finds each value's bin by binary search instead of testing every bin: bin i holds
    # [edge_i, edge_i+1), the last bin also its upper edge, values outside the edges get no bin.
    first = layout.terms[1]
    edges = [term.bin_lo for term in layout.terms[1:]] + [layout.terms[-1].bin_hi]
    name, edge_list = quote(first.bin_field or ""), params.bind(edges)
    keys = "".join(f"eligible.{g}, " for g in group)
    in_range = f"CASE WHEN eligible.{name} <= {params.bind(edges[-1])} THEN bins.bin END"
    return (
        f",\nbins AS (SELECT CAST(i - 1 AS INTEGER) AS bin, {edge_list}[i] AS lo "
        f"FROM range(1, {len(edges)}) AS r(i))\n"
        f"SELECT {keys}{in_range}, count(*) "
        f"FROM eligible ASOF LEFT JOIN bins ON eligible.{name} >= bins.lo GROUP BY ALL"
    )


def _source(fmt: SourceFormat, files: list[str], schema: DatasetSchema, params: Params) -> str:
    if fmt == "csv":
        return _csv_source(files, schema, params)
    if fmt == "parquet":
        return f"read_parquet({params.bind(files)}, union_by_name = true)"
    raise LocalComputeError(f"unsupported dataset format {fmt!r}")


def typed_columns(fields: Sequence[FieldSpec]) -> str:
    """``TRY_CAST`` of each field to its type: a cell that does not parse reads as NULL, not as an error."""
    return ", ".join(f"TRY_CAST({quote(f.name)} AS {_SQL_TYPES[f.type]}) AS {quote(f.name)}" for f in fields)


def _csv_source(files: list[str], schema: DatasetSchema, params: Params) -> str:
    """Every file read with the columns of its own header, all as text, and the files united by name.

    Nothing is sniffed: a malformed line cannot change how the others are read, it fails the read. Each
    cell is cast later, per column, so one bad cell only voids its own field.
    """
    declared = set(schema.field_names)
    by_header: dict[tuple[str, ...], list[str]] = {}
    for file in files:
        by_header.setdefault(tuple(csv_header(Path(file))), []).append(file)
    scans = [
        f"SELECT * FROM read_csv({params.bind(group)}, "
        f"columns = {params.bind(csv_columns(header, declared))}, {CSV_OPTIONS})"
        for header, group in by_header.items()
    ]
    return "(" + " UNION ALL BY NAME ".join(scans) + ")"


def csv_columns(header: tuple[str, ...], declared: Collection[str]) -> dict[str, str]:
    """Column names for DuckDB, which compares them case-insensitively.

    A declared field keeps its name (twice is a schema mismatch); any other column that clashes with a name
    taken, or has none, gets a placeholder: it is never read.
    """
    present = [name for name in header if name in declared]
    if len(set(present)) < len(present):
        raise SchemaMismatch("a declared field is repeated in a file's header", ", ".join(header))
    taken = set(present)  # schema names are lower case
    columns: dict[str, str] = {}
    for position, name in enumerate(header):
        if name not in declared:
            if not name or name.lower() in taken:
                name = f"__column_{position}__"
            taken.add(name.lower())
        columns[name] = "VARCHAR"
    return columns


def _clipped(field: FieldSpec, params: Params) -> str:
    name = quote(field.name)
    if not field.type.is_numeric:
        return name
    lo, hi = params.bind(field.lower), params.bind(field.upper)
    valid = f"isfinite({name})"
    if field.type is FieldType.INTEGER:
        valid += f" AND {name} = trunc({name})"  # '12.5' in an integer column is a bad cell, not 12 or 13
    return f"CASE WHEN {valid} THEN LEAST(GREATEST({name}, {lo}), {hi}) END AS {name}"


def _condition(item: Filter, field: FieldSpec, params: Params) -> str:
    name = _coarsened(field, params)
    values = [_parameter(v, field) for v in (item.value if isinstance(item.value, list) else [item.value])]
    if item.op is FilterOp.IN:
        return f"{name} IN ({params.bind_all(values)})"
    if item.op is FilterOp.BETWEEN:
        return f"{name} BETWEEN {params.bind(values[0])} AND {params.bind(values[1])}"
    return f"{name} {_COMPARISONS[item.op]} {params.bind(values[0])}"


def _coarsened(field: FieldSpec, params: Params) -> str:
    """The value a filter on ``field`` compares: the start of its granule (see the module docstring)."""
    name = quote(field.name)
    if field.type is FieldType.TIMESTAMP:
        return f"date_trunc({params.bind(field.effective_filter_resolution)}, {name})"
    if not field.type.is_numeric:
        return name
    step, tolerance = params.bind(field.effective_filter_step), params.bind(GRID_TOLERANCE)
    quotient = f"({name} / {step})"
    nearest = f"round({quotient})"
    on_grid = f"abs({quotient} - {nearest}) <= {tolerance} * greatest(1, abs({nearest}))"
    return f"(CASE WHEN {on_grid} THEN {nearest} ELSE floor({quotient}) END * {step})"


def _parameter(value: float | str, field: FieldSpec) -> Any:
    if field.type is FieldType.TIMESTAMP:
        return parse_timestamp(str(value))
    if field.type.is_numeric:
        # The grid point itself, computed as SQL computes a granule's start, so the comparison is exact.
        point = field.grid_point(float(value))
        if point is None:  # validate_spec refuses such a filter before any SQL is built
            raise LocalComputeError(f"filter value {value!r} is off the grid of {field.name!r}")
        return point
    return str(value)


def _aggregate(term: Term, measured: list[str]) -> str:
    if not term.factors:
        return "count(*)"
    product = " * ".join(f"z{measured.index(name)}" for name in term.factors)
    # fsum is compensated (Kahan-Babuska): the sum does not depend on scan order or thread count.
    return f"COALESCE(fsum({product}), 0.0)"


def _assemble(layout: VectorLayout, rows: list[tuple[Any, ...]]) -> NDArray[np.float64]:
    """Place the query's rows in the layout; the cohort indicators stay 0 until the cells are gated."""
    vector = np.zeros(layout.length, dtype=np.float64)
    position = {group: i for i, group in enumerate(layout.groups)}
    for row in rows:
        group, values = (row[0], row[1:]) if layout.group_by else (None, row)
        terms = layout.group_slice(position[group])
        if layout.kind is JobKind.HISTOGRAM:
            bin_index, count = values
            # Term 0 counts the rows outside the edges, term 1 + i the rows of bin i.
            vector[terms.start + (0 if bin_index is None else 1 + bin_index)] += count
        else:
            vector[terms] = values
    return vector
