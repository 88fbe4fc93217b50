"""Profiles of a table's columns read with DuckDB: counts, extremes, frequent values and a sample of rows.

The counts and extremes come from one pass over every row, so proposed bounds and categories cover the whole
file; the detectors see a sample (``SAMPLE_ROWS`` by default, the same rows on every run). Cells are read as
text and parsed as the data check and the jobs parse them (``TRY_CAST`` to DOUBLE or TIMESTAMP), so a type
proposed here is one they accept. CSV files are read as ``node.local_compute`` reads them: each with the
columns its own header names, nothing sniffed.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any, Final

import duckdb

from node import engine
from node.datafiles import SourceFormat, columns_of
from node.exceptions import DataUnreadable
from node.inference import MAX_INFERRED_CATEGORIES, ColumnProfile
from node.local_compute import CSV_OPTIONS, Params, csv_columns, quote

SAMPLE_ROWS: Final = 5000
_SEED: Final = 7


def header(paths: Sequence[Path], fmt: SourceFormat) -> tuple[list[str], list[tuple[str, str]]]:
    """The columns every file has (in the first file's order), and those only some have, with why."""
    headers = [columns_of(path, fmt) for path in paths]
    first = headers[0]
    common = [c for c in dict.fromkeys(first) if all(c in h for h in headers)]
    partial = dict.fromkeys(c for h in headers for c in h if c not in common)
    return common, [(c, "is not in every file") for c in partial]


def profile_columns(
    paths: Sequence[Path], fmt: SourceFormat, columns: Sequence[str], *, sample_rows: int = SAMPLE_ROWS
) -> list[ColumnProfile]:
    """One profile per column of ``columns``; ``DataUnreadable`` if the files cannot be read whole."""
    params = Params()
    source = _source(paths, fmt, columns, params)
    text = {c: f"CAST({quote(c)} AS VARCHAR)" for c in columns}
    aggregates = ["count(*)"] + [a for c in columns for a in _aggregates(text[c])]
    try:
        with engine.shared().cursor() as con:
            (row,) = con.execute(f"SELECT {', '.join(aggregates)} FROM {source}", params.values).fetchall()
            stats = _split(row, len(columns))
            tops = {
                c: _top(con, source, params, text[c])
                for c, s in zip(columns, stats, strict=True)
                if 0 < s["distinct"] <= 2 * MAX_INFERRED_CATEGORIES
            }
        sample = sample_values(paths, fmt, columns, rows=sample_rows)
    except duckdb.Error as exc:
        raise DataUnreadable(
            "the files cannot be read whole",
            f"{str(exc).splitlines()[0]} (`dataspace-node check` tells more)",
        ) from exc
    profiles = []
    for column, s in zip(columns, stats, strict=True):
        top = tops.get(column)
        profiles.append(
            ColumnProfile(
                name=column, rows=int(row[0]), non_empty=s["non_empty"], numbers=s["numbers"],
                integers=s["integers"], timestamps=s["timestamps"],
                distinct=len(top) if top is not None else s["distinct"],
                minimum=s["minimum"], maximum=s["maximum"], low=s["low"], high=s["high"],
                first=_time(s["first"]), last=_time(s["last"]), top=top, sample=tuple(sample[column]),
            )
        )  # fmt: skip
    return profiles


def sample_values(
    paths: Sequence[Path], fmt: SourceFormat, columns: Sequence[str], *, rows: int = SAMPLE_ROWS
) -> dict[str, list[str | None]]:
    """Up to ``rows`` rows of ``columns`` as text, the same rows on every run over the same files."""
    params = Params()
    source = _source(paths, fmt, columns, params)
    chosen = ", ".join(f"CAST({quote(c)} AS VARCHAR)" for c in columns)
    sql = f"SELECT {chosen} FROM {source} USING SAMPLE reservoir({int(rows)} ROWS) REPEATABLE ({_SEED})"
    con = engine.connect()
    try:
        con.execute("SET threads = 1")  # the reservoir is repeatable on one thread only
        fetched = con.execute(sql, params.values).fetchall()
    finally:
        con.close()
    return {c: [r[i] for r in fetched] for i, c in enumerate(columns)}


def _source(paths: Sequence[Path], fmt: SourceFormat, columns: Sequence[str], params: Params) -> str:
    files = [str(p.resolve()) for p in paths]
    if fmt == "parquet":
        return f"read_parquet({params.bind(files)}, union_by_name = true)"
    by_header: dict[tuple[str, ...], list[str]] = {}
    for path, file in zip(paths, files, strict=True):
        by_header.setdefault(tuple(columns_of(path, "csv")), []).append(file)
    scans = [
        f"SELECT * FROM read_csv({params.bind(group)}, "
        f"columns = {params.bind(csv_columns(head, set(columns)))}, {CSV_OPTIONS})"
        for head, group in by_header.items()
    ]
    return "(" + " UNION ALL BY NAME ".join(scans) + ")"


def _aggregates(value: str) -> list[str]:
    filled = f"NOT ({value} IS NULL OR trim({value}) = '')"
    number = f"TRY_CAST({value} AS DOUBLE)"
    finite = f"coalesce(isfinite({number}), false)"
    moment = f"TRY_CAST({value} AS TIMESTAMP)"
    return [
        f"count(*) FILTER (WHERE {filled})",
        f"count(*) FILTER (WHERE {finite})",
        f"count(*) FILTER (WHERE {finite} AND {number} = trunc({number}))",
        f"count(*) FILTER (WHERE {filled} AND {moment} IS NOT NULL)",
        f"approx_count_distinct({value}) FILTER (WHERE {filled})",
        f"min({number}) FILTER (WHERE {finite})",
        f"max({number}) FILTER (WHERE {finite})",
        f"quantile_cont({number}, [0.001, 0.999]) FILTER (WHERE {finite})",
        f"min({moment})",
        f"max({moment})",
    ]


def _split(row: tuple[Any, ...], count: int) -> list[dict[str, Any]]:
    stats = []
    for i in range(count):
        filled, numbers, integers, times, distinct, lo, hi, quantiles, first, last = row[
            1 + 10 * i : 11 + 10 * i
        ]
        q_lo, q_hi = quantiles if quantiles else (None, None)
        stats.append({
            "non_empty": int(filled), "numbers": int(numbers), "integers": int(integers),
            "timestamps": int(times), "distinct": int(distinct or 0), "minimum": lo, "maximum": hi,
            "low": q_lo, "high": q_hi, "first": first, "last": last,
        })  # fmt: skip
    return stats


def _top(
    con: duckdb.DuckDBPyConnection, source: str, params: Params, value: str
) -> tuple[tuple[str, int], ...] | None:
    """Every distinct non-empty value with its count, or None when there are too many to be categories."""
    sql = (
        f"SELECT {value} AS v, count(*) AS n FROM {source} WHERE NOT ({value} IS NULL OR trim({value}) = '') "
        f"GROUP BY v ORDER BY n DESC, v LIMIT {MAX_INFERRED_CATEGORIES + 1}"
    )
    rows = con.execute(sql, params.values).fetchall()
    if len(rows) > MAX_INFERRED_CATEGORIES:
        return None
    return tuple((str(v), int(n)) for v, n in rows)


def _time(value: object) -> str | None:
    return None if value is None else str(value)
