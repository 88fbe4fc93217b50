"""Profiles of columns (hit rates per detector, what the column name says) and exact findings in records.

``scan_column`` and ``scan_table`` describe columns for the classification proposer; ``find_personal_data``
lists every raw identifier in a set of records or values, with its position, so that a release can be
refused when anything is found. A finding never carries the characters it found, so it may be logged.
"""

from __future__ import annotations

import math
import re
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import Final

from pydantic import BaseModel, ConfigDict, Field

from contracts.detectors.columns import NameMatch, match_column_name
from contracts.detectors.kinds import Confidence, Kind
from contracts.detectors.values import VALUE_KINDS, find_identifiers

_NUMBER: Final = re.compile(r"\s*[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?\s*")


def as_text(value: object) -> str | None:
    """The text detectors read for ``value``; None for an empty value (None, NaN, blank).

    Integral floats and decimals read as integers, so a phone number that went through a spreadsheet as
    ``13812345678.0`` is still found. ``Finding`` positions index into this text.
    """
    if value is None:
        return None
    if isinstance(value, str):
        return value if value.strip() else None
    if isinstance(value, bytes):
        return as_text(value.decode("utf-8", errors="replace"))
    if isinstance(value, Decimal):
        if not value.is_finite():
            return None
        return str(int(value)) if value == value.to_integral_value() else str(value)
    if isinstance(value, float):
        if not math.isfinite(value):
            return None
        return str(int(value)) if value.is_integer() else repr(value)
    return str(value)


def _is_numeric(value: object, text: str) -> bool:
    if isinstance(value, int | float | Decimal) and not isinstance(value, bool):
        return True
    return isinstance(value, str) and _NUMBER.fullmatch(text) is not None


# ------------------------------------------------------------------------------------------------ columns


class DetectorStat(BaseModel):
    """How many non-empty values of a column hold ``kind``.

    ``hits`` hold it anywhere, ``whole`` as the entire value, ``strong`` with high confidence; ``rate`` is
    ``hits / non_empty``.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    kind: Kind
    hits: int = Field(ge=0)
    whole: int = Field(ge=0)
    strong: int = Field(ge=0)
    rate: float = Field(ge=0, le=1)


class ColumnFinding(BaseModel):
    """What the detectors saw in one column: a stat per detector run, and what the column name says."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    column: str
    values: int = Field(ge=0)
    non_empty: int = Field(ge=0)
    numeric: int = Field(ge=0)  # non-empty values that are numbers (or read as one)
    detections: tuple[DetectorStat, ...]
    name_match: NameMatch | None = None
    names_tested: bool = False  # whether values were tested as person names

    def stat(self, kind: Kind) -> DetectorStat | None:
        return next((s for s in self.detections if s.kind is kind), None)

    def hits(self) -> tuple[DetectorStat, ...]:
        """Stats of the kinds found at least once, highest rate first."""
        return tuple(sorted((s for s in self.detections if s.hits), key=lambda s: -s.rate))


@dataclass
class _Tally:
    hits: int = 0
    whole: int = 0
    strong: int = 0


def scan_column(
    name: str, values: Iterable[object], *, today: date, name_column: bool | None = None
) -> ColumnFinding:
    """Run every detector over ``values`` (read once, so a generator or a sample will do).

    Person names are tested when ``name_column`` is True, or, left None, when the column name says the
    column holds names (``姓名``, ``operator``, ...).
    """
    name_match = match_column_name(name)
    test_names = (
        name_column
        if name_column is not None
        else (name_match is not None and name_match.kind is Kind.PERSON_NAME)
    )
    kinds = VALUE_KINDS if test_names else tuple(k for k in VALUE_KINDS if k is not Kind.PERSON_NAME)
    tallies = {kind: _Tally() for kind in kinds}
    total = non_empty = numeric = 0
    for value in values:
        total += 1
        text = as_text(value)
        if text is None:
            continue
        non_empty += 1
        numeric += _is_numeric(value, text)
        matches = find_identifiers(text, today=today, names=test_names)
        stripped = text.strip()
        for kind in {m.kind for m in matches}:
            tallies[kind].hits += 1
        for kind in {m.kind for m in matches if m.confidence is Confidence.HIGH}:
            tallies[kind].strong += 1
        if len(matches) == 1 and matches[0].end - matches[0].start == len(stripped):
            tallies[matches[0].kind].whole += 1
    return ColumnFinding(
        column=name,
        values=total,
        non_empty=non_empty,
        numeric=numeric,
        detections=tuple(
            DetectorStat(
                kind=kind,
                hits=t.hits,
                whole=t.whole,
                strong=t.strong,
                rate=t.hits / non_empty if non_empty else 0.0,
            )
            for kind, t in tallies.items()
        ),
        name_match=name_match,
        names_tested=test_names,
    )


def scan_table(
    columns: Mapping[str, Iterable[object]], *, today: date, name_columns: Collection[str] = ()
) -> dict[str, ColumnFinding]:
    """``scan_column`` for every column; ``name_columns`` are declared to hold person names."""
    return {
        name: scan_column(name, values, today=today, name_column=True if name in name_columns else None)
        for name, values in columns.items()
    }


# ----------------------------------------------------------------------------------------------- records


@dataclass(frozen=True, slots=True)
class Finding:
    """A raw identifier in the ``row``-th item, in ``column`` (None for a bare value).

    It sits at ``as_text(value)[start:end]``; the characters themselves are not kept.
    """

    row: int
    column: str | None
    kind: Kind
    start: int
    end: int
    confidence: Confidence

    @property
    def personal(self) -> bool:
        return self.kind.personal


def find_personal_data(
    data: Iterable[object],
    *,
    today: date,
    name_columns: Collection[str] = (),
    limit: int | None = None,
) -> list[Finding]:
    """Every raw identifier in ``data``: records (mappings of column to value) or bare values.

    Credit codes are reported too (``Finding.personal`` tells them apart): an extract that names its
    counterparties is no more releasable raw. Person names are looked for in the columns of
    ``name_columns`` and in columns whose name says they hold names. Stops after ``limit`` findings.
    """
    findings: list[Finding] = []
    name_columns_seen: dict[str, bool] = {}
    for row, item in enumerate(data):
        cells: Iterable[tuple[str | None, object]] = (
            ((str(k), v) for k, v in item.items()) if isinstance(item, Mapping) else ((None, item),)
        )
        for column, value in cells:
            text = as_text(value)
            if text is None:
                continue
            names = column is not None and _holds_names(column, name_columns, name_columns_seen)
            for m in find_identifiers(text, today=today, names=names):
                findings.append(Finding(row, column, m.kind, m.start, m.end, m.confidence))
                if limit is not None and len(findings) >= limit:
                    return findings
    return findings


def _holds_names(column: str, declared: Collection[str], seen: dict[str, bool]) -> bool:
    if column not in seen:
        match = match_column_name(column)
        seen[column] = column in declared or (match is not None and match.kind is Kind.PERSON_NAME)
    return seen[column]
