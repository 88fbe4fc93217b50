"""Edits of a node.toml that keep what a person wrote: set keys of a field table, replace its proposal notes.

Only the lines of the keys changed move; comments, order and every other table stay as they are. A key's
value may span lines (an array over several lines): it ends at the first line where it parses as TOML.
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Final

from node.config_render import NOTE_PREFIX, note_lines

_DATASET: Final = re.compile(r"^\s*\[\[\s*datasets\s*\]\]")
_FIELD: Final = re.compile(r"^\s*\[\[\s*datasets\s*\.\s*fields\s*\]\]")
_TABLE: Final = re.compile(r"^\s*\[")
_KEY: Final = re.compile(r"^\s*([A-Za-z0-9_-]+)\s*=")
_MAX_VALUE_LINES: Final = 1000


class EditError(ValueError):
    """The file does not have the table an edit is for."""


@dataclass(frozen=True)
class FieldEdit:
    """New values (TOML text) for keys of one field table; ``notes`` replace its proposal notes when set."""

    values: Mapping[str, str] = field(default_factory=dict)
    remove: Sequence[str] = ()
    notes: Sequence[str] | None = None


@dataclass
class _Table:
    lines: list[str]
    dataset: str | None = None  # the dataset a field table belongs to
    name: str | None = None
    is_field: bool = False


def edit_fields(text: str, dataset: str, edits: Mapping[str, FieldEdit]) -> str:
    """``text`` with ``edits`` applied to the field tables of ``dataset``; ``EditError`` if one is absent."""
    tables = _split(text)
    done = set()
    for table in tables:
        if table.is_field and table.dataset == dataset and table.name is not None and table.name in edits:
            _apply(table, edits[table.name])
            done.add(table.name)
    missing = sorted(set(edits) - done)
    if missing:
        raise EditError(f"dataset {dataset!r} has no field table for {', '.join(missing)}")
    return "".join(line for table in tables for line in table.lines)


def _split(text: str) -> list[_Table]:
    tables = [_Table([])]
    for line in text.splitlines(keepends=True):
        if _TABLE.match(line):
            tables.append(_Table([line], is_field=bool(_FIELD.match(line))))
        else:
            tables[-1].lines.append(line)
    dataset: str | None = None
    for table in tables:
        table.name = _value(table.lines, "name")
        if table.lines and _DATASET.match(table.lines[0]):
            dataset = table.name
        elif table.is_field:
            table.dataset = dataset
    return tables


def _spans(lines: list[str]) -> dict[str, tuple[int, int]]:
    """Where each key's ``key = value`` lines are: [start, end)."""
    spans: dict[str, tuple[int, int]] = {}
    i = 0
    while i < len(lines):
        match = _KEY.match(lines[i])
        if match is None or lines[i].lstrip().startswith("#"):
            i += 1
            continue
        end = i + 1
        while end <= min(len(lines), i + _MAX_VALUE_LINES):
            try:
                tomllib.loads("".join(lines[i:end]))
                break
            except tomllib.TOMLDecodeError:
                end += 1
        spans[match.group(1)] = (i, min(end, len(lines)))
        i = max(end, i + 1)
    return spans


def _value(lines: list[str], key: str) -> str | None:
    span = _spans(lines).get(key)
    if span is None:
        return None
    try:
        value = tomllib.loads("".join(lines[span[0] : span[1]])).get(key)
    except tomllib.TOMLDecodeError:
        return None
    return value if isinstance(value, str) else None


def _apply(table: _Table, edit: FieldEdit) -> None:
    lines = table.lines
    if edit.notes is not None:
        lines[:] = [line for line in lines if not line.startswith(NOTE_PREFIX)]
        at = _spans(lines)["name"][1]
        lines[at:at] = [note + "\n" for note in note_lines(edit.notes)]
    for key in edit.remove:
        span = _spans(lines).get(key)
        if span is not None:
            del lines[span[0] : span[1]]
    for key, value in edit.values.items():
        spans = _spans(lines)
        if key in spans:
            start, end = spans[key]
            lines[start:end] = [f"{key} = {value}\n"]
            continue
        # New keys go after the last key, before ``proposed`` so that it stays the table's last word.
        last = max((end for name, (_, end) in spans.items() if name != "proposed"), default=1)
        if lines and not lines[last - 1].endswith("\n"):
            lines[last - 1] += "\n"
        lines.insert(last, f"{key} = {value}\n")
