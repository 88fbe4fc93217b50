"""The text of a node configuration: a commented TOML file meant to be read and edited by the factory's staff.

``node.config.load_config`` reads it back into the same objects. Values proposed by the node rather than
chosen by a person are listed in a field's ``proposed`` key, with the evidence as ``# proposal:`` comments.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path, PurePath
from typing import Final, Literal

from contracts.jobspec import JobKind
from contracts.offers import Grade
from contracts.schema import DatasetSchema, FieldSpec, FieldType

SourceFormat = Literal["csv", "parquet"]
SUFFIX_FORMATS: Final[dict[str, SourceFormat]] = {".csv": "csv", ".parquet": "parquet", ".pq": "parquet"}
NOTE_PREFIX: Final = "# proposal: "


@dataclass(frozen=True)
class DatasetDraft:
    """A dataset to write: its files (relative to the config's folder, or absolute) and declarations."""

    name: str
    paths: Sequence[str | PurePath]
    schema: DatasetSchema
    tags: Mapping[str, str] = field(default_factory=dict)
    grades: Mapping[str, Grade] = field(default_factory=dict)
    proposed: Mapping[str, Sequence[str]] = field(default_factory=dict)  # field -> keys not yet confirmed
    notes: Mapping[str, Sequence[str]] = field(default_factory=dict)  # field -> evidence, one line each
    skipped: Sequence[tuple[str, str]] = ()  # columns of the files left undeclared, and why


_HEADER = """\
# Configuration of an industrial-dataspace factory node.
# Raw rows never leave this machine: jobs read the files below locally and only securely aggregated
# statistics are sent out. Relative paths are resolved against the folder of this file, so the folder
# can move (with the data inside it) and stay valid.

# Name of this node as the operator and the audit log show it.
node_name = {node_name}

# Participant id of the organisation running this node (its unified social credit code).
participant_id = {participant_id}
"""

_DATASET = """
# ------------------------------------------------------------------------------------------------------
# A dataset offered to joint analyses. Its schema is public; its files are not.
[[datasets]]
# Name buyers see in the catalogue: lower-case letters, digits and underscores, starting with a letter.
name = {name}
description = {description}
# Data files, CSV with a header row or Parquet; all files of one dataset share one format.
paths = [{paths}]
# "csv" or "parquet"; inferred from the file suffix (.csv, .parquet, .pq) while this line stays commented.
# format = {format}

# One [[datasets.fields]] table per column:
#   type        number | integer | category | text | timestamp
#   min, max    required for number and integer; values are clipped to [min, max] before any statistic,
#               so the bounds limit what one row can contribute and must cover realistic values
#   categories  required for category fields; other values count as missing
#   personal    true for personal information (names, phone numbers, ...): no job may ever read it
#   grade       core | important | general (GB/T 43697); core fields are never offered to any job
#   tag         what the field means, from the controlled vocabulary; needed to publish an offer
#   proposed    values the node proposed (from the data or a scan) that nobody has confirmed yet: check
#               them against the "# proposal:" evidence, then delete the line, or run
#               `dataspace-node confirm DATASET`; `publish` refuses while any is left
#   text fields are never usable in jobs; timestamps only in filters
"""

_CONTRACTS = """
# Usage contracts proposed by buyers over this node's offers. Proposals from the buyers listed here
# ("*" = any buyer) are approved and signed by the node itself; all others wait for a person:
#   dataspace-node contracts pending | show ID | approve ID | reject ID
[contracts]
auto_approve = [{buyers}]
"""

_ACCEPT_HEADER = """
# ------------------------------------------------------------------------------------------------------
# Job kinds this node runs, per buyer participant id ("*" = any buyer), in addition to the signed
# contracts. Kinds: count, sum, mean, variance, histogram, linear_regression.
# A job that no rule accepts is refused.
"""

DatasetEntry = tuple[str, PurePath | Sequence[PurePath], DatasetSchema] | DatasetDraft


def render_config(
    *,
    node_name: str,
    participant_id: str,
    datasets: Sequence[DatasetEntry],
    accept: Sequence[tuple[str, Sequence[JobKind | str]]],
    auto_approve: Sequence[str] = (),
) -> str:
    """Render a commented TOML configuration that ``load_config`` reads back into the same objects.

    A dataset's schema is published under the dataset's name.
    """
    parts = [_HEADER.format(node_name=toml_string(node_name), participant_id=toml_string(participant_id))]
    parts.append(_CONTRACTS.format(buyers=", ".join(toml_string(b) for b in auto_approve)))
    for entry in datasets:
        parts.append(_render_dataset(entry if isinstance(entry, DatasetDraft) else _draft(*entry)))
    parts.append(_ACCEPT_HEADER)
    if not accept:
        parts.append("# (no rules: this node accepts no jobs)\n")
    for buyer, kinds in accept:
        kind_list = ", ".join(toml_string(JobKind(k).value) for k in kinds)
        parts.append(f"[[accept]]\nbuyer = {toml_string(buyer)}\nkinds = [{kind_list}]\n")
    return "".join(parts)


def _draft(name: str, paths: PurePath | Sequence[PurePath], schema: DatasetSchema) -> DatasetDraft:
    return DatasetDraft(name, [paths] if isinstance(paths, PurePath) else list(paths), schema)


def _render_dataset(draft: DatasetDraft) -> str:
    paths = [p.as_posix() if isinstance(p, PurePath) else p for p in draft.paths]
    formats = {SUFFIX_FORMATS.get(Path(p).suffix.lower()) for p in paths}
    fmt = formats.pop() if len(formats) == 1 else None
    if fmt is None:
        raise ValueError(f"dataset {draft.name!r}: paths must all be .csv or all .parquet files")
    text = _DATASET.format(
        name=toml_string(draft.name),
        description=toml_string(draft.schema.description),
        paths=", ".join(toml_string(p) for p in paths),
        format=toml_string(fmt),
    )
    if draft.skipped:
        text += "\n# Columns of the files that are not declared (never read):\n"
        text += "".join(f"#   {column!r} {why}\n" for column, why in draft.skipped)
    return text + "".join(
        render_field(
            spec,
            tag=draft.tags.get(spec.name),
            grade=draft.grades.get(spec.name),
            proposed=draft.proposed.get(spec.name, ()),
            notes=draft.notes.get(spec.name, ()),
        )
        for spec in draft.schema.fields
    )


def render_field(
    spec: FieldSpec,
    *,
    tag: str | None = None,
    grade: Grade | None = None,
    proposed: Sequence[str] = (),
    notes: Sequence[str] = (),
) -> str:
    lines = ["", "[[datasets.fields]]", f"name = {toml_string(spec.name)}"]
    lines += note_lines(notes)
    lines.append(f"type = {toml_string(spec.type.value)}")
    if spec.unit or spec.type.is_numeric:
        lines.append(f"unit = {toml_string(spec.unit)}")
    lines.append(f"description = {toml_string(spec.description)}")
    if spec.type.is_numeric:
        lines += [f"min = {_number(spec.lower, spec)}", f"max = {_number(spec.upper, spec)}"]
    if spec.filter_step is not None:
        lines.append(f"filter_step = {_number(spec.filter_step, spec)}")
    if spec.filter_resolution is not None:
        lines.append(f"filter_resolution = {toml_string(spec.filter_resolution)}")
    if spec.categories is not None:
        lines.append(f"categories = [{', '.join(toml_string(c) for c in spec.categories)}]")
    lines.append(f"personal = {'true' if spec.personal else 'false'}")
    if grade is not None:
        lines.append(f"grade = {toml_string(Grade(grade).value)}")
    if tag is not None:
        lines.append(f"tag = {toml_string(tag)}")
    if proposed:
        lines.append(proposed_line(proposed))
    return "\n".join(lines) + "\n"


def note_lines(notes: Sequence[str]) -> list[str]:
    return [NOTE_PREFIX + " ".join(note.split()) for note in notes]


def proposed_line(keys: Sequence[str]) -> str:
    return f"proposed = [{', '.join(toml_string(k) for k in keys)}]"


def _number(value: float, spec: FieldSpec) -> str:
    return str(int(value)) if spec.type is FieldType.INTEGER else repr(float(value))


_ESCAPES = {'"': '\\"', "\\": "\\\\", "\b": "\\b", "\t": "\\t", "\n": "\\n", "\f": "\\f", "\r": "\\r"}


def toml_string(value: str) -> str:
    """Quote as a TOML basic string, escaping what the TOML grammar requires."""
    out = []
    for char in value:
        if char in _ESCAPES:
            out.append(_ESCAPES[char])
        elif ord(char) < 0x20 or ord(char) == 0x7F:
            out.append(f"\\u{ord(char):04X}")
        else:
            out.append(char)
    return '"' + "".join(out) + '"'
