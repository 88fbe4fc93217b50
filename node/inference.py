"""From the profile of a factory's own table to a proposed public schema, with the evidence for each choice.

Pure: the profiles (counts, extremes, frequent values and a sample of each column, see ``node.profiling``)
come in, a ``DatasetInference`` goes out. Per column it proposes

* the type: ``timestamp`` or a number (``integer`` when every number is whole) when at least ``TYPE_SHARE``
  of the non-empty cells parse as one, the way the data check and the jobs parse them; a text column with
  few distinct values that each repeat is a ``category``, any other is ``text``;
* the bounds of a number: the observed range (or the 0.1-99.9 % quantiles when a lone value lies far
  out), widened by ``HEADROOM`` and rounded outward to a 1-2-5 step; never below 0 for a column without
  negative values, never above 1 for a share;
* the categories of a category column: every distinct value (they are published with the schema);
* grade, personal flag and semantic tag from ``contracts.detectors`` and ``contracts.grading``. A personal
  column becomes ``text`` whatever it holds, so neither its values (as categories) nor its range (as
  bounds) is ever published.

Everything the factory should confirm is listed in ``FieldInference.proposed``.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import Final

from contracts.detectors import scan_column
from contracts.grading import FieldProposal, propose
from contracts.offers import Grade
from contracts.schema import (
    GRID_TOLERANCE,
    IDENTIFIER_PATTERN,
    DatasetSchema,
    FieldSpec,
    FieldType,
    nice_step,
)
from contracts.vocabulary import TAGS

TYPE_SHARE: Final = 0.95  # non-empty cells that must parse for a column to get a number or timestamp type
HEADROOM: Final = 0.1  # share of the observed range added on either side of it
MAX_INFERRED_CATEGORIES: Final = 50
MIN_REPEATS: Final = 5  # a category column has at least this many rows per distinct value on average
OUTLIER_REACH: Final = 1.0  # a value further out than this many quantile ranges is taken for a glitch
_IDENTIFIER: Final = re.compile(IDENTIFIER_PATTERN)


@dataclass(frozen=True)
class ColumnProfile:
    """What a scan of one column found; numbers and timestamps are parsed as the data check parses them."""

    name: str
    rows: int
    non_empty: int
    numbers: int = 0  # non-empty cells that are finite numbers
    integers: int = 0  # ... and whole
    timestamps: int = 0  # non-empty cells that are timestamps
    distinct: int = 0  # distinct non-empty values (approximate when large)
    minimum: float | None = None  # of the numbers
    maximum: float | None = None
    low: float | None = None  # 0.1 % quantile of the numbers
    high: float | None = None  # 99.9 % quantile
    first: str | None = None  # earliest timestamp
    last: str | None = None  # latest timestamp
    top: tuple[tuple[str, int], ...] | None = None  # every distinct value with its count, when there are few
    sample: tuple[str | None, ...] = ()  # values for the detectors


@dataclass(frozen=True)
class FieldInference:
    """The proposed declaration of one column, the grading proposal, and why."""

    spec: FieldSpec
    grade: Grade
    tag: str | None
    proposal: FieldProposal
    notes: tuple[str, ...]  # evidence, one sentence each, written as comments for the factory
    proposed: tuple[str, ...]  # keys of the declaration the factory should confirm

    @property
    def tag_choices(self) -> tuple[str, ...]:
        """Tags of the vocabulary that describe this field's type, for a factory that must pick one."""
        return tag_choices(self.spec.type)


@dataclass(frozen=True)
class DatasetInference:
    name: str
    rows: int
    fields: tuple[FieldInference, ...]
    skipped: tuple[tuple[str, str], ...] = ()  # (column, why it is not declared)
    description: str = ""

    @property
    def schema(self) -> DatasetSchema:
        return DatasetSchema(
            name=self.name, description=self.description, fields=[f.spec for f in self.fields]
        )

    @property
    def tags(self) -> dict[str, str]:
        return {f.spec.name: f.tag for f in self.fields if f.tag is not None}

    @property
    def grades(self) -> dict[str, Grade]:
        return {f.spec.name: f.grade for f in self.fields}

    @property
    def proposed(self) -> dict[str, tuple[str, ...]]:
        return {f.spec.name: f.proposed for f in self.fields if f.proposed}

    @property
    def notes(self) -> dict[str, tuple[str, ...]]:
        return {f.spec.name: f.notes for f in self.fields}


class InferenceError(ValueError):
    """Nothing in the table can be declared (no column has a usable name)."""


def tag_choices(kind: FieldType) -> tuple[str, ...]:
    return tuple(name for name, tag in TAGS.items() if kind in tag.field_types and not tag.personal)


def dataset_name(stem: str, taken: Sequence[str] = ()) -> str:
    """A dataset name from a file name: lower case, other characters as ``_``, starting with a letter."""
    name = re.sub(r"[^a-z0-9]+", "_", stem.lower()).strip("_")[:56] or "dataset"
    if not name[0].isalpha():
        name = "data_" + name
    candidate, n = name, 2
    while candidate in taken:
        candidate, n = f"{name}_{n}", n + 1
    return candidate


def infer_dataset(
    name: str, profiles: Sequence[ColumnProfile], *, today: date, description: str = ""
) -> DatasetInference:
    """Propose a schema for the columns of ``profiles``; a column whose name is no field name is skipped."""
    fields: list[FieldInference] = []
    skipped: list[tuple[str, str]] = []
    seen: set[str] = set()
    for profile in profiles:
        why = _unusable_name(profile.name, seen)
        if why:
            skipped.append((profile.name, why))
            continue
        seen.add(profile.name)
        fields.append(infer_field(profile, today=today))
    if not fields:
        raise InferenceError(
            f"no column of {name} can be declared: " + "; ".join(f"{c!r} {w}" for c, w in skipped)
        )
    rows = max((p.rows for p in profiles), default=0)
    return DatasetInference(name, rows, tuple(fields), tuple(skipped), description)


def _unusable_name(column: str, seen: set[str]) -> str | None:
    if column in seen:
        return "heads more than one column"
    if _IDENTIFIER.fullmatch(column) is None:
        simple = dataset_name(column)
        hint = f" (rename it, e.g. to {simple!r})" if simple != "dataset" else " (rename it)"
        return (
            "is not a field name: lower-case letters, digits and underscores, starting with a letter" + hint
        )
    return None


def infer_field(profile: ColumnProfile, *, today: date) -> FieldInference:
    """The declaration, grade and tag proposed for one column."""
    finding = scan_column(profile.name, profile.sample, today=today)
    unknown = propose(finding)  # what the name and values say before the type is fixed
    spec, notes = _declaration(profile, label=unknown.tag == "identifier")
    proposal = propose(finding, spec)
    if proposal.personal:
        shown = "bounds" if spec.type.is_numeric else "categories" if spec.categories else ""
        spec = FieldSpec(name=profile.name, type=FieldType.TEXT, personal=True)
        proposal = propose(finding, spec)
        hidden = f", so its {shown} are not published" if shown else ""
        notes = (*_kept(notes), f"declared text: personal information{hidden}; no job may read it")
    notes = (*notes, *_grading_notes(proposal, profile))
    proposed = [k for k in ("min", "max") if spec.type.is_numeric]
    proposed += ["categories"] if spec.categories else []
    proposed += ["personal"] if spec.personal else []
    proposed += ["grade"] + (["tag"] if proposal.tag else [])
    return FieldInference(spec, proposal.grade, proposal.tag, proposal, tuple(notes), tuple(proposed))


def _declaration(profile: ColumnProfile, *, label: bool) -> tuple[FieldSpec, tuple[str, ...]]:
    kind, why = _type(profile, label=label)
    name = profile.name
    if kind.is_numeric:
        lo, hi, how = _range(profile)
        lower, upper, rounding = propose_bounds(lo, hi, integer=kind is FieldType.INTEGER)
        note = f"bounds: {how}, widened by {HEADROOM:.0%} either side and rounded to {rounding}"
        return FieldSpec(name=name, type=kind, min=lower, max=upper), (why, note)
    if kind is FieldType.CATEGORY:
        assert profile.top is not None
        categories = sorted(value for value, _ in profile.top)
        note = "categories are published with the schema: check that none names a customer or a secret"
        return FieldSpec(name=name, type=kind, categories=categories), (why, note)
    if kind is FieldType.TIMESTAMP and profile.first and profile.last:
        why += f", from {profile.first} to {profile.last}"
    return FieldSpec(name=name, type=kind), (why,)


def _kept(notes: tuple[str, ...]) -> tuple[str, ...]:
    """The notes that still hold for a column declared personal text: not those on bounds or categories."""
    return tuple(n for n in notes if n.startswith("type:"))


def _type(profile: ColumnProfile, *, label: bool) -> tuple[FieldType, str]:
    filled = profile.non_empty
    if not filled:
        return FieldType.TEXT, "type: text, the column is empty"

    def share(count: int, what: str) -> str:
        return f"{count / filled:.1%} of {filled:,} non-empty values are {what}"

    numeric = profile.numbers >= TYPE_SHARE * filled
    if numeric and not label:
        if profile.integers == profile.numbers:
            return FieldType.INTEGER, "type: integer, " + share(profile.numbers, "whole numbers")
        return FieldType.NUMBER, "type: number, " + share(profile.numbers, "numbers")
    if not numeric and profile.timestamps >= TYPE_SHARE * filled:
        return FieldType.TIMESTAMP, "type: timestamp, " + share(profile.timestamps, "times")
    distinct = profile.distinct
    few = profile.top is not None and 0 < len(profile.top) <= MAX_INFERRED_CATEGORIES
    if few and distinct * MIN_REPEATS <= filled:
        named = " (numbers naming things)" if numeric else ""
        return FieldType.CATEGORY, f"type: category{named}, {distinct} distinct values in {filled:,} rows"
    count = ("" if profile.top is not None else "about ") + f"{min(distinct, filled):,}"
    return FieldType.TEXT, f"type: text, {count} distinct values in {filled:,} rows (never usable in jobs)"


def _range(profile: ColumnProfile) -> tuple[float, float, str]:
    lo, hi = profile.minimum, profile.maximum
    if lo is None or hi is None:
        raise ValueError(f"column {profile.name!r} has no numbers")
    seen = f"{profile.numbers:,} values from {_short(lo)} to {_short(hi)}"
    q_lo, q_hi = profile.low, profile.high
    if q_lo is None or q_hi is None:
        return lo, hi, seen
    reach = OUTLIER_REACH * max(q_hi - q_lo, abs(q_hi) * 1e-9)
    far_low, far_high = lo < q_lo - reach, hi > q_hi + reach
    if not (far_low or far_high):
        return lo, hi, seen
    out = " and ".join(x for x, far in (("the smallest", far_low), ("the largest", far_high)) if far)
    return (
        q_lo if far_low else lo,
        q_hi if far_high else hi,
        f"{seen}; {out} lie far outside the rest (glitches?), so the bounds start from the 0.1-99.9 % "
        "quantiles and such values are clipped",
    )


def propose_bounds(lo: float, hi: float, *, integer: bool) -> tuple[float, float, str]:
    """Bounds covering ``[lo, hi]`` with headroom, on a 1-2-5 grid; and the grid step, as text."""
    if not (math.isfinite(lo) and math.isfinite(hi)) or lo > hi:
        raise ValueError(f"no range: [{lo}, {hi}]")
    pad = (hi - lo) * HEADROOM
    if not pad > max(abs(lo), abs(hi)) * 1e-9:  # (nearly) a single value: a range around it
        pad = max(abs(lo), abs(hi), 1.0) * HEADROOM
    start, end = lo - pad, hi + pad
    if lo >= 0:
        start = max(start, 0.0)  # a column without negative values: counts, amounts, rates
        if hi <= 1 and not integer:
            end = min(end, 1.0)  # a share or a ratio
    step = nice_step((end - start) / 10)
    if integer:
        step = max(step, 1.0)
    exact = Decimal(repr(step))  # k * step in decimal, so 39 * 0.02 gives 0.78, not 0.7800000000000001
    first = math.floor(start / step + GRID_TOLERANCE)
    last = max(math.ceil(end / step - GRID_TOLERANCE), first + 1)
    while float(first * exact) > lo:  # the tolerance must never cut a value off
        first -= 1
    while float(last * exact) < hi:
        last += 1
    return float(first * exact), float(last * exact), _short(step)


def _short(value: float) -> str:
    return f"{value:,.6g}" if abs(value) >= 1e-4 or value == 0 else f"{value:.3g}"


def _grading_notes(proposal: FieldProposal, profile: ColumnProfile) -> list[str]:
    evidence = proposal.evidence
    notes = []
    sampled = sum(1 for v in profile.sample if v is not None and str(v).strip())
    for stat in evidence.detections:
        notes.append(
            f"detector {stat.kind}: {stat.hits} of {sampled:,} sampled values ({stat.rate:.1%}), "
            f"{stat.whole} whole, {stat.strong} strong"
        )
    if evidence.name_match is not None:
        notes.append(f"the column name says {evidence.name_match.kind} ({evidence.name_match.keyword!r})")
    personal = "personal information" if proposal.personal else "not personal"
    sensitive = " (sensitive: PIPL art. 28)" if proposal.sensitive else ""
    notes.append(f"grade {proposal.grade} by rule {proposal.rule}; {personal}{sensitive}")
    if proposal.tag is not None:
        notes.append(f"tag {evidence.reasons[-1]}")
    return notes


def missing_tag_note(kind: FieldType) -> str:
    """The comment asking the factory to pick a tag, with the tags that fit the type."""
    return f"no tag fits by itself: pick one of {', '.join(tag_choices(kind))}"
