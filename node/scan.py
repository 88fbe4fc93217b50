"""``dataspace-node scan``: grade, personal flag and semantic tag proposed per field, with the evidence.

A sample of the dataset's rows goes through the detectors (``contracts.detectors``) and the proposer
(``contracts.grading``), with each field's declaration. ``write_proposals`` records the proposals in
node.toml, marked ``proposed`` for a person to confirm; a value a person already confirmed is never
overwritten, except that a field found to hold personal information is flagged personal (which only
restricts its use) and marked for review.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from pathlib import Path

from rich.console import Console
from rich.table import Table

from contracts.detectors import scan_column
from contracts.grading import FieldProposal, propose
from contracts.offers import Grade
from contracts.schema import FieldSpec
from node.config import DatasetConfig, load_config
from node.config_render import toml_string
from node.datafiles import fit_header
from node.exceptions import ConfigError, SchemaMismatch
from node.profiling import SAMPLE_ROWS, header, sample_values
from node.tomledit import FieldEdit, edit_fields


@dataclass(frozen=True)
class FieldScan:
    """One field: its declaration and confirmed terms in node.toml, and what the scan proposes."""

    spec: FieldSpec
    grade: Grade | None
    tag: str | None
    proposed: tuple[str, ...]  # keys of node.toml still unconfirmed
    proposal: FieldProposal
    sampled: int  # non-empty values the detectors saw


def scan_dataset(dataset: DatasetConfig, *, today: date, rows: int = SAMPLE_ROWS) -> list[FieldScan]:
    """Propose grade, personal flag and tag for every declared field from a sample of ``rows`` rows."""
    columns, _ = header(dataset.paths, dataset.format)
    fit = fit_header(columns, dataset.schema)
    if not fit.ok:
        raise SchemaMismatch(
            f"declared field(s) {', '.join(fit.missing + fit.duplicated)} missing or repeated in the files",
            f"run `dataspace-node check {dataset.name}`",
        )
    names = dataset.schema.field_names
    sample = sample_values(dataset.paths, dataset.format, names, rows=rows)
    scans = []
    for spec in dataset.schema.fields:
        values = sample[spec.name]
        finding = scan_column(spec.name, values, today=today)
        scans.append(
            FieldScan(
                spec=spec,
                grade=dataset.grades.get(spec.name),
                tag=dataset.tags.get(spec.name),
                proposed=dataset.proposed.get(spec.name, ()),
                proposal=propose(finding, spec),
                sampled=finding.non_empty,
            )
        )
    return scans


def evidence(scan: FieldScan) -> list[str]:
    """The evidence of a proposal, one line per detector hit, column-name match and rule."""
    found = scan.proposal.evidence
    lines = [
        f"{s.kind}: {s.hits}/{scan.sampled} sampled ({s.rate:.1%}), {s.whole} whole, {s.strong} strong"
        for s in found.detections
    ] or [f"no detector matched any of {scan.sampled:,} sampled values"]
    if found.name_match is not None:
        lines.append(f"column name says {found.name_match.kind} ({found.name_match.keyword!r})")
    lines.append(
        f"rule {scan.proposal.rule}" + (", sensitive (PIPL art. 28)" if scan.proposal.sensitive else "")
    )
    lines.append(found.reasons[-1])
    return lines


def render_scan(console: Console, dataset: DatasetConfig, scans: Sequence[FieldScan]) -> None:
    table = Table(title=f"{dataset.name}: grade, personal flag and tag per field")
    for column in ("field", "type", "grade", "personal", "tag"):
        table.add_column(column, overflow="fold")
    for scan in scans:
        p = scan.proposal
        table.add_row(
            scan.spec.name,
            scan.spec.type.value,
            _versus(scan.grade, p.grade, "grade" in scan.proposed),
            _versus(scan.spec.personal, p.personal, "personal" in scan.proposed),
            _versus(scan.tag, p.tag, "tag" in scan.proposed),
        )
    console.print(table)
    console.print(
        "node.toml's values; [dim]?[/dim] not confirmed yet; [yellow]→ X[/yellow] the scan proposes X instead"
    )
    found = Table(title=f"evidence, from {max((s.sampled for s in scans), default=0):,} sampled rows")
    found.add_column("field", no_wrap=True)
    found.add_column("evidence", overflow="fold", ratio=1)
    for scan in scans:
        for i, line in enumerate(evidence(scan)):
            found.add_row(scan.spec.name if i == 0 else "", line, end_section=i == len(evidence(scan)) - 1)
    console.print(found)
    console.print(
        "`scan --write` records the proposals in node.toml; `dataspace-node confirm DATASET` confirms"
    )


def _versus(current: object, proposed: object, unconfirmed: bool) -> str:
    shown = _shown(current) + ("[dim]?[/dim]" if unconfirmed else "")
    if current != proposed and proposed is not None:
        shown += f" [yellow]→ {_shown(proposed)}[/yellow]"
    return shown


def _shown(value: object) -> str:
    if value is None:
        return "-"
    if isinstance(value, bool):
        return "yes" if value else "no"
    return str(value)


@dataclass
class WriteOutcome:
    written: dict[str, list[str]]  # field -> keys set to a proposal
    kept: list[str]  # confirmed values left as they are though the scan proposes otherwise


def write_proposals(config_path: Path, dataset: DatasetConfig, scans: Sequence[FieldScan]) -> WriteOutcome:
    """Record the proposals in node.toml (``proposed``, with the evidence as comments); see the module doc."""
    outcome = WriteOutcome({}, [])
    edits = {scan.spec.name: _edit(scan, outcome) for scan in scans}
    text = edit_fields(config_path.read_text(encoding="utf-8"), dataset.name, edits)
    replace_config(config_path, text)
    return outcome


def _edit(scan: FieldScan, outcome: WriteOutcome) -> FieldEdit:
    p, name = scan.proposal, scan.spec.name
    unconfirmed = set(scan.proposed)
    values: dict[str, str] = {}
    written: list[str] = []
    proposals = {
        "grade": (scan.grade, p.grade),
        "tag": (scan.tag, p.tag),
        "personal": (scan.spec.personal, p.personal),
    }
    for key, (current, proposed) in proposals.items():
        if proposed is None or current == proposed:
            continue
        confirmed = current is not None and key not in unconfirmed
        if confirmed and not (key == "personal" and proposed is True):
            outcome.kept.append(f"{name}.{key}: kept {_shown(current)}, the scan proposes {_shown(proposed)}")
            continue
        values[key] = _toml(proposed)
        written.append(key)
    if written:
        outcome.written[name] = written
    keys = [
        k
        for k in ("min", "max", "categories", "personal", "grade", "tag")
        if k in unconfirmed or k in written
    ]
    if keys:
        values["proposed"] = "[" + ", ".join(toml_string(k) for k in keys) + "]"
    return FieldEdit(values=values, notes=evidence(scan))


def _toml(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return toml_string(str(value))


def confirm(
    config_path: Path, dataset: DatasetConfig, fields: Sequence[str] = ()
) -> dict[str, tuple[str, ...]]:
    """Confirm the proposed values of ``fields`` (all if none is named) as written; return what was."""
    unknown = [f for f in fields if not dataset.schema.has_field(f)]
    if unknown:
        raise ConfigError(f"dataset {dataset.name} has no field {', '.join(unknown)}")
    chosen = {n: k for n, k in dataset.unconfirmed().items() if not fields or n in fields}
    if chosen:
        edits = {name: FieldEdit(remove=["proposed"]) for name in chosen}
        text = edit_fields(config_path.read_text(encoding="utf-8"), dataset.name, edits)
        replace_config(config_path, text)
    return chosen


def replace_config(config_path: Path, text: str) -> None:
    """Write ``text`` over node.toml once it loads as a valid configuration; the old file stays otherwise."""
    handle, name = tempfile.mkstemp(prefix=".node-", suffix=".toml", dir=config_path.parent)
    temporary = Path(name)
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as out:
            out.write(text)
        load_config(temporary)  # relative paths resolve as they will in node.toml: same folder
        temporary.replace(config_path)
    finally:
        temporary.unlink(missing_ok=True)
