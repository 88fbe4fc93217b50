"""``dataspace-node check``: does each file of a dataset match its declared schema, and how clean is it.

A file is *usable* when a job can read it whole and its columns hold what the schema declares: it is
there, not empty, its header names every declared field once, its last line is whole, every line is UTF-8
with as many cells as the header, and no field has ``MISMATCH_SHARE`` or more of its non-empty cells
failing to parse as its type (a column that now holds something else). Fewer bad cells are counted but do
not make a file unusable: a job voids a bad cell and clips an out-of-bounds number, as it does missing ones.
``dataspace-node run`` performs this check at start and leaves an unusable dataset out of what it offers;
``dataspace-node publish`` refuses to offer one whose files are missing or lack its columns or types.
"""

from __future__ import annotations

import difflib
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

import duckdb

from contracts.schema import DatasetSchema, FieldSpec, FieldType
from node import engine
from node.config import DatasetConfig
from node.datafiles import (
    DataGuard,
    Signature,
    SourceFormat,
    columns_of,
    ends_with_line_break,
    fit_header,
    invalid_utf8_lines,
    signature,
)
from node.exceptions import DataError
from node.local_compute import CSV_OPTIONS, Params, csv_columns, quote

MISMATCH_SHARE: Final = 0.9


@dataclass(frozen=True)
class Problem:
    """Why a file is not usable; ``code`` is the one a job on it would be refused with."""

    code: str
    message: str


@dataclass
class FieldReport:
    name: str
    type: FieldType
    missing: int  # empty cells
    invalid: int  # non-empty cells that do not parse as the type (or name no declared category)
    out_of_bounds: int | None  # numbers outside [min, max]; None for other types


@dataclass
class FileReport:
    path: Path
    format: SourceFormat
    size: int | None = None
    rows: int | None = None
    problems: list[Problem] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    missing_fields: tuple[str, ...] = ()
    duplicated_fields: tuple[str, ...] = ()
    extra_columns: tuple[str, ...] = ()
    invalid_utf8_lines: int = 0
    first_invalid_utf8_line: int | None = None
    malformed_lines: int = 0
    first_malformed_line: int | None = None
    fields: list[FieldReport] = field(default_factory=list)
    checked: Signature | None = None  # the version of the file this report describes

    @property
    def usable(self) -> bool:
        return not self.problems

    def problem(self, code: str, message: str) -> None:
        self.problems.append(Problem(code, message))

    def to_json(self) -> dict[str, Any]:
        return {
            "path": str(self.path), "format": self.format, "usable": self.usable, "bytes": self.size,
            "rows": self.rows, "problems": [{"code": p.code, "message": p.message} for p in self.problems],
            "warnings": self.warnings, "missing_fields": list(self.missing_fields),
            "duplicated_fields": list(self.duplicated_fields), "extra_columns": list(self.extra_columns),
            "invalid_utf8_lines": self.invalid_utf8_lines,
            "first_invalid_utf8_line": self.first_invalid_utf8_line,
            "malformed_lines": self.malformed_lines, "first_malformed_line": self.first_malformed_line,
            "fields": {f.name: _field_json(f, self.rows) for f in self.fields},
        }  # fmt: skip


@dataclass
class DatasetReport:
    name: str
    files: list[FileReport]
    unconfirmed: dict[str, tuple[str, ...]] = field(default_factory=dict)  # proposals nobody confirmed

    @property
    def usable(self) -> bool:
        return all(f.usable for f in self.files)

    @property
    def problems(self) -> list[Problem]:
        return [p for f in self.files for p in f.problems]

    def to_json(self) -> dict[str, Any]:
        return {"dataset": self.name, "usable": self.usable, "files": [f.to_json() for f in self.files],
                "unconfirmed": {name: list(keys) for name, keys in self.unconfirmed.items()}}  # fmt: skip


def check_dataset(dataset: DatasetConfig) -> DatasetReport:
    files = [check_file(p, dataset.schema, dataset.format) for p in dataset.paths]
    return DatasetReport(dataset.name, files, dataset.unconfirmed())


def check_file(path: Path, schema: DatasetSchema, fmt: SourceFormat) -> FileReport:
    report = FileReport(path, fmt)
    try:
        seen = signature(path)
        report.size = seen.size
        _inspect(report, schema)
        if signature(path) == seen:
            report.checked = seen
    except DataError as exc:
        report.problem(exc.code, f"{exc.reason}: {exc.detail}" if exc.detail else exc.reason)
    return report


def offerable(
    datasets: Sequence[DatasetConfig], guard: DataGuard
) -> tuple[list[DatasetConfig], list[DatasetReport]]:
    """The datasets whose files are all usable (trusted in ``guard`` as checked); reports of the others."""
    usable, refused = [], []
    for dataset in datasets:
        report = check_dataset(dataset)
        if not report.usable:
            refused.append(report)
            continue
        usable.append(dataset)
        for item in report.files:
            if item.checked is not None:
                guard.trust(item.path, item.checked)
    return usable, refused


def _inspect(report: FileReport, schema: DatasetSchema) -> None:
    path = report.path
    if report.size == 0:
        report.problem("data_unreadable", "the file is empty")
        return
    columns = columns_of(path, report.format)
    fit = fit_header(columns, schema)
    report.missing_fields, report.duplicated_fields = fit.missing, fit.duplicated
    report.extra_columns = fit.extra
    for name in fit.missing:
        near = fit.extra[0] if len(fit.missing) == len(fit.extra) == 1 else _renamed(name, fit.extra)
        hint = f" (is it {near!r}?)" if near else ""
        report.problem("schema_mismatch", f"declared field {name} is not in the header{hint}")
    for name in fit.duplicated:
        report.problem("schema_mismatch", f"declared field {name} heads more than one column")
    if report.format == "csv":
        _check_lines(report)
    if not fit.duplicated:
        _profile(report, columns, schema)
    if report.malformed_lines:
        report.problem("data_unreadable", f"{report.malformed_lines} line(s) do not have one cell per column "
                       f"or leave a quote open (first: line {report.first_malformed_line})")  # fmt: skip
    _warn(report)


def _renamed(name: str, columns: Sequence[str]) -> str | None:
    """The undeclared column that is most likely ``name`` renamed, if any looks like it."""
    for column in columns:
        simple = column.strip().lower()
        if simple and (name in simple or simple in name or simple[:4] == name[:4]):
            return column
    close = difflib.get_close_matches(name, columns, n=1)
    return close[0] if close else None


def _check_lines(report: FileReport) -> None:
    if not ends_with_line_break(report.path):
        report.problem("data_unreadable", "the last line has no line break: the file may be truncated or "
                       "still being written (if it is complete, end it with a line break)")  # fmt: skip
    bad, first = invalid_utf8_lines(report.path)
    report.invalid_utf8_lines, report.first_invalid_utf8_line = bad, first
    if bad:
        report.problem("data_unreadable", f"{bad} line(s) are not valid UTF-8 (first: line {first})")


def _profile(report: FileReport, columns: list[str], schema: DatasetSchema) -> None:
    """One scan: rows, and per declared field the missing, invalid and out-of-bounds cells.

    A CSV line that cannot be read (wrong number of cells, open quote, invalid UTF-8) is skipped and
    recorded by DuckDB; every column is referenced so that invalid UTF-8 anywhere in a line is caught.
    """
    fields = [f for f in schema.fields if f.name in columns]
    params = Params()
    aggregates = ["count(*)"] + [a for f in fields for a in _field_aggregates(f, params)]
    if report.format == "csv":
        names = csv_columns(tuple(columns), set(schema.field_names))
        aggregates += [f"count({quote(name)})" for name in names]
        source = (f"read_csv({params.bind(str(report.path))}, columns = {params.bind(names)}, {CSV_OPTIONS}, "
                  "store_rejects = true)")  # fmt: skip
    else:
        source = f"read_parquet({params.bind(str(report.path))})"
    try:
        with engine.connect() as con:  # rejected lines are recorded per connection
            # fetchall: DuckDB records rejected lines once the scan is complete, not while it streams
            (row,) = con.execute(f"SELECT {', '.join(aggregates)} FROM {source}", params.values).fetchall()
            if report.format == "csv":
                rejected = con.execute(_MALFORMED).fetchone()
                assert rejected is not None
                report.malformed_lines, report.first_malformed_line = int(rejected[0]), rejected[1]
    except duckdb.Error as exc:
        report.problem("data_unreadable", f"the file cannot be read: {str(exc).splitlines()[0]}")
        return
    report.rows = int(row[0])
    counts = iter(row[1:])
    for spec in fields:
        missing, invalid = int(next(counts)), int(next(counts))
        bounds = int(next(counts)) if spec.type.is_numeric else None
        report.fields.append(FieldReport(spec.name, spec.type, missing, invalid, bounds))


# Lines DuckDB skipped for their shape; those it skipped for their encoding are counted from the bytes.
_MALFORMED = (
    "SELECT count(DISTINCT line), min(line) FROM reject_errors WHERE error_type <> 'INVALID ENCODING'"
)


def _field_aggregates(spec: FieldSpec, params: Params) -> list[str]:
    name = quote(spec.name)
    missing = f"({name} IS NULL OR trim(CAST({name} AS VARCHAR)) = '')"
    number = f"TRY_CAST({name} AS DOUBLE)"
    if spec.type is FieldType.NUMBER:
        valid = f"coalesce(isfinite({number}), false)"
    elif spec.type is FieldType.INTEGER:
        valid = f"coalesce(isfinite({number}) AND {number} = trunc({number}), false)"
    elif spec.type is FieldType.TIMESTAMP:
        valid = f"(TRY_CAST({name} AS TIMESTAMP) IS NOT NULL)"
    elif spec.type is FieldType.CATEGORY:
        valid = f"coalesce(list_contains({params.bind(spec.categories)}, CAST({name} AS VARCHAR)), false)"
    else:
        valid = "true"
    aggregates = [
        f"count(*) FILTER (WHERE {missing})",
        f"count(*) FILTER (WHERE NOT {missing} AND NOT {valid})",
    ]
    if spec.type.is_numeric:
        lo, hi = params.bind(spec.lower), params.bind(spec.upper)
        aggregates.append(f"count(*) FILTER (WHERE {valid} AND ({number} < {lo} OR {number} > {hi}))")
    return aggregates


def _warn(report: FileReport) -> None:
    if report.rows == 0:
        report.warnings.append("the file has no rows")
    for item in report.fields:
        present = (report.rows or 0) - item.missing
        if present and item.invalid >= MISMATCH_SHARE * present:
            what = (
                "are not declared categories"
                if item.type is FieldType.CATEGORY
                else f"do not parse as {item.type}"
            )
            report.problem(
                "schema_mismatch",
                f"field {item.name}: {item.invalid:,} of its {present:,} non-empty cells "
                f"({item.invalid / present:.0%}) {what}: the column no longer holds what the schema declares",
            )


def _field_json(item: FieldReport, rows: int | None) -> dict[str, Any]:
    counts = {"missing": item.missing, "invalid": item.invalid, "out_of_bounds": item.out_of_bounds}
    shares = {f"{k}_share": _share(v, rows) for k, v in counts.items() if v is not None}
    return {"type": item.type.value, **{k: v for k, v in counts.items() if v is not None}, **shares}


def _share(count: int, rows: int | None) -> float:
    return count / rows if rows else 0.0


def render(reports: Sequence[DatasetReport]) -> str:
    """The report a person reads: per dataset and file the verdict, the problems, a table of the fields."""
    lines: list[str] = []
    for dataset in reports:
        verdict = "usable" if dataset.usable else "NOT USABLE (`run` does not offer it)"
        lines.append(f"{dataset.name}: {verdict}")
        if dataset.unconfirmed:
            listed = "; ".join(f"{name} ({', '.join(keys)})" for name, keys in dataset.unconfirmed.items())
            lines.append(f"  ! proposed values not confirmed yet, so `publish` refuses the dataset: {listed}")
        for item in dataset.files:
            lines += _render_file(item)
    return "\n".join(lines)


def _render_file(item: FileReport) -> list[str]:
    size = f"{item.size:,} bytes" if item.size is not None else "not there"
    rows = f", {item.rows:,} rows" if item.rows is not None else ""
    lines = [f"  {item.path} ({item.format}, {size}{rows})"]
    lines += [f"    ✗ {p.code}: {p.message}" for p in item.problems]
    lines += [f"    ! {w}" for w in item.warnings]
    if item.extra_columns:
        lines.append(f"    columns not in the schema (never read): {', '.join(item.extra_columns)}")
    if item.fields:
        lines.append(f"    {'field':<28}{'type':<11}{'missing':>18}{'invalid':>18}{'out of bounds':>18}")
        for f in item.fields:
            cells = [
                _cell(f.missing, item.rows),
                _cell(f.invalid, item.rows),
                _cell(f.out_of_bounds, item.rows),
            ]
            lines.append(f"    {f.name:<28}{f.type.value:<11}" + "".join(f"{c:>18}" for c in cells))
    return lines


def _cell(count: int | None, rows: int | None) -> str:
    return "-" if count is None else f"{count:,} ({_share(count, rows):.2%})"
