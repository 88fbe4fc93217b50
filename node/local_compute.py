"""A node's local part of a joint-analysis job: the statistics vector over its own files, computed in DuckDB.

The result follows ``contracts.jobspec.vector_layout`` exactly. Definition of the rows that count:

* every cell is cast to its schema type; a cell that does not parse (or a non-finite number) is NULL;
* numeric values are clipped to the declared ``[min, max]`` *before* anything else, filters included: the
  clipping is part of the statistic, and it bounds what a single row can contribute;
* a row is eligible when none of the fields the job uses is NULL, every category field it uses holds a
  declared category, and it passes all filters.

Filter values, bounds, centres, bin edges and categories reach SQL only as bound parameters; field names
are schema identifiers (validated against a strict pattern) and are quoted as well.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any, Literal

import duckdb
import numpy as np
from numpy.typing import NDArray

from contracts.jobspec import (
    Filter,
    FilterOp,
    JobSpec,
    Term,
    VectorLayout,
    parse_timestamp,
    vector_layout,
)
from contracts.schema import DatasetSchema, FieldSpec, FieldType
from node.exceptions import LocalComputeError

SourceFormat = Literal["csv", "parquet"]

_SQL_TYPES = {
    FieldType.NUMBER: "DOUBLE",
    FieldType.INTEGER: "BIGINT",
    FieldType.CATEGORY: "VARCHAR",
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
_CONNECTION_CONFIG: dict[str, str | bool | int | float | list[str]] = {
    # A factory node must not fetch code at run time.
    "autoinstall_known_extensions": False,
    "autoload_known_extensions": False,
    # DuckDB 2.0 pushes TRY_CAST into the CSV reader, where it becomes a failing strict cast.
    "disabled_optimizers": "type_pushdown",
}


def local_vector(
    spec: JobSpec, schema: DatasetSchema, dataset_files: Sequence[Path], fmt: SourceFormat
) -> NDArray[np.float64]:
    """Validate ``spec`` and compute this node's statistics vector over ``dataset_files``."""
    layout = vector_layout(spec, schema)
    files = _checked_files(dataset_files)
    sql, params = build_query(spec, schema, layout, files, fmt)
    try:
        with _engine().cursor() as con:
            rows = con.execute(sql, params).fetchall()
    except duckdb.Error as exc:
        raise LocalComputeError(f"cannot compute {spec.kind} over {len(files)} file(s): {exc}") from exc
    return _assemble(layout, rows)


@functools.cache
def _engine() -> duckdb.DuckDBPyConnection:
    # Opening a database costs more than a small query; jobs leave no state in it (each has its own cursor).
    return duckdb.connect(":memory:", config=_CONNECTION_CONFIG)


def _checked_files(dataset_files: Sequence[Path]) -> list[str]:
    if not dataset_files:
        raise LocalComputeError("the dataset has no files")
    missing = [str(p) for p in dataset_files if not Path(p).is_file()]
    if missing:
        raise LocalComputeError(f"dataset files not found: {', '.join(missing)}")
    return [str(Path(p).resolve()) for p in dataset_files]


class _Params:
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
    """Return the SQL text and its parameters; one result row per non-empty group."""
    params = _Params()
    fields = [schema.field(name) for name in spec.used_fields()]
    measured = spec.measured_fields()
    typed = ", ".join(f"TRY_CAST({quote(f.name)} AS {_SQL_TYPES[f.type]}) AS {quote(f.name)}" for f in fields)
    clipped = ", ".join(_clipped(f, params) for f in fields)
    if not fields:  # a plain count reads no column
        typed, clipped = "1 AS one", "one"
    conditions = [f"{quote(f.name)} IS NOT NULL" for f in fields]
    conditions += [
        f"{quote(f.name)} IN ({params.bind_all(f.categories or [])})"
        for f in fields
        if f.type is FieldType.CATEGORY
    ]
    conditions += [_condition(item, schema.field(item.field), params) for item in spec.filters]
    centred = [
        f"{quote(name)} - {params.bind(layout.centres[name])} AS z{i}" for i, name in enumerate(measured)
    ]
    group = [quote(spec.group_by)] if spec.group_by else []
    kept = ", ".join([*group, *(quote(name) for name in measured), *centred]) or "one"
    aggregates = ", ".join(_aggregate(term, measured, params) for term in layout.terms)
    sql = (
        f"WITH typed AS (SELECT {typed} FROM {_source(fmt, params.bind(files))}),\n"
        f"clipped AS (SELECT {clipped} FROM typed),\n"
        f"eligible AS (SELECT {kept} FROM clipped WHERE {' AND '.join(conditions) or 'TRUE'})\n"
        f"SELECT {', '.join([*group, aggregates])} FROM eligible" + (f" GROUP BY {group[0]}" if group else "")
    )
    return sql, params.values


def _source(fmt: SourceFormat, files_placeholder: str) -> str:
    if fmt == "csv":
        # Everything is read as text and cast per column, so one malformed cell only voids its own field.
        return (
            f"read_csv({files_placeholder}, header = true, all_varchar = true, union_by_name = true, "
            "delim = ',', quote = '\"', escape = '\"')"
        )
    if fmt == "parquet":
        return f"read_parquet({files_placeholder}, union_by_name = true)"
    raise LocalComputeError(f"unsupported dataset format {fmt!r}")


def _clipped(field: FieldSpec, params: _Params) -> str:
    name = quote(field.name)
    if not field.type.is_numeric:
        return name
    lo, hi = params.bind(field.lower), params.bind(field.upper)
    value = f"CAST({name} AS DOUBLE)"
    return f"CASE WHEN isfinite({value}) THEN LEAST(GREATEST({value}, {lo}), {hi}) END AS {name}"


def _condition(item: Filter, field: FieldSpec, params: _Params) -> str:
    name = quote(item.field)
    values = [_parameter(v, field) for v in (item.value if isinstance(item.value, list) else [item.value])]
    if item.op is FilterOp.IN:
        return f"{name} IN ({params.bind_all(values)})"
    if item.op is FilterOp.BETWEEN:
        return f"{name} BETWEEN {params.bind(values[0])} AND {params.bind(values[1])}"
    return f"{name} {_COMPARISONS[item.op]} {params.bind(values[0])}"


def _parameter(value: float | str, field: FieldSpec) -> Any:
    if field.type is FieldType.TIMESTAMP:
        return parse_timestamp(str(value))
    if field.type.is_numeric:
        return float(value)
    return str(value)


def _aggregate(term: Term, measured: list[str], params: _Params) -> str:
    if term.bin_field is not None:
        name = quote(term.bin_field)
        upper = "<=" if term.bin_closed else "<"
        lo, hi = params.bind(term.bin_lo), params.bind(term.bin_hi)
        return f"count(*) FILTER (WHERE {name} >= {lo} AND {name} {upper} {hi})"
    if not term.factors:
        return "count(*)"
    product = " * ".join(f"z{measured.index(name)}" for name in term.factors)
    # fsum is compensated (Kahan-Babuska): the sum does not depend on scan order or thread count.
    return f"COALESCE(fsum({product}), 0.0)"


def _assemble(layout: VectorLayout, rows: list[tuple[Any, ...]]) -> NDArray[np.float64]:
    vector = np.zeros(layout.length, dtype=np.float64)
    if layout.group_by is None:
        vector[:] = rows[0]
        return vector
    position = {group: i for i, group in enumerate(layout.groups)}
    for group, *values in rows:
        vector[layout.group_slice(position[group])] = values
    return vector
