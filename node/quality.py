"""Data-quality figures of a dataset, measured by its node when it publishes the offer.

Over the fields a job may use (``DatasetOffer.usable_fields``), in one DuckDB pass over the files:
completeness is the share of cells that are present and parse as their type; validity the share of present
values inside the declared bounds (numbers) or categories; the duplicate rate the share of rows that repeat
an earlier row on those fields; the last update the newest value of the first timestamp field, else the
newest file's modification time. Published coarsely (``contracts.offers.DataQuality``): shares in
hundredths rounded towards the worse side, the row count to two significant digits.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path

import duckdb

from contracts.jobspec import JobKind, JobSpec
from contracts.offers import DataQuality
from contracts.schema import FieldSpec, FieldType
from node import engine
from node.config import DatasetConfig
from node.local_compute import Params, _checked_files, _classified, _source, quote, typed_columns


def two_significant(count: int) -> int:
    """``count`` rounded to two significant digits (1234 -> 1200): volumes are business data."""
    if count < 100:
        return count
    scale = 10 ** (int(math.log10(count)) - 1)
    return int(round(count / scale) * scale)


def measure_quality(dataset: DatasetConfig, fields: Sequence[str], now: datetime) -> DataQuality:
    """The quality figures of ``dataset`` over ``fields``; DataError subclasses if the files are unusable."""
    schema = dataset.schema
    specs = [schema.field(name) for name in fields]
    files = _checked_files(dataset.paths)
    params = Params()
    present = " + ".join(f"count({quote(f.name)})" for f in specs) or "0"
    checks = [(f, _valid(f, params)) for f in specs]
    valid = " + ".join(f"count(*) FILTER (WHERE {test})" for f, test in checks if test) or "0"
    checked = " + ".join(f"count({quote(f.name)})" for f, test in checks if test) or "0"
    names = ", ".join(quote(f.name) for f in specs)
    stamp = next((f for f in specs if f.type is FieldType.TIMESTAMP), None)
    newest = f"max({quote(stamp.name)})" if stamp is not None else "NULL"
    distinct = f"(SELECT count(*) FROM (SELECT DISTINCT {names} FROM typed))" if specs else "count(*)"
    source = _source(dataset.format, files, schema, params)
    sql = (
        f"WITH typed AS (SELECT {typed_columns(specs)} FROM {source})\n"
        f"SELECT count(*), {present}, {checked}, {valid}, {distinct}, {newest} FROM typed"
    )
    with engine.shared().cursor() as con:
        try:
            rows, cells, checked_n, valid_n, unique, last = con.execute(sql, params.values).fetchone() or ()
        except duckdb.Error as exc:  # classified as a job's read would be, so the factory reads one message
            raise _classified(exc, JobSpec(kind=JobKind.COUNT, dataset=dataset.name), files) from exc
    return DataQuality(
        rows=two_significant(int(rows)),
        completeness=_share_down(cells, rows * len(specs)),
        validity=_share_down(valid_n, checked_n),
        duplicate_rate=_share_up(int(rows) - int(unique), rows),
        last_update=_aware(last) if last is not None else _newest_file(files),
        measured_at=now,
    )


def _valid(field: FieldSpec, params: Params) -> str | None:
    """SQL that holds for a present value inside the field's declaration; None when nothing is declared."""
    name = quote(field.name)
    if field.type.is_numeric and field.min is not None and field.max is not None:
        return f"{name} BETWEEN {params.bind(float(field.min))} AND {params.bind(float(field.max))}"
    if field.type is FieldType.CATEGORY and field.categories:
        return f"list_contains({params.bind(list(field.categories))}, {name})"
    return None


# Rounded to hundredths towards the worse side, so a published figure never flatters the data: 99.9 %
# complete reads 0.99, not 1.00, and one duplicate in ten thousand reads 0.01, not 0.00.
def _share_down(part: int, whole: int) -> float:
    return 1.0 if not whole else (int(part) * 100 // int(whole)) / 100


def _share_up(part: int, whole: int) -> float:
    return 0.0 if not whole else -(-int(part) * 100 // int(whole)) / 100


def _aware(value: datetime) -> datetime:
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value


def _newest_file(files: Sequence[str]) -> datetime | None:
    times = [Path(f).stat().st_mtime for f in files]
    return datetime.fromtimestamp(max(times), UTC) if times else None
