"""``dataspace-node init``: the datasets of a new node, from the factory's own files or a sample profile.

Own files (``--data [NAME=]FILE``) are profiled (``node.profiling``) and described by ``node.inference``;
every proposed value is written to node.toml marked ``proposed``, with its evidence. Files of a sample
profile (``--dataset NAME=FILE``) take the profile's schema, tags and grades, and must carry its columns.
Paths are written relative to the node's folder, so the folder can move with its data.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from datetime import date
from pathlib import Path, PurePath

from rich.console import Console
from rich.table import Table

from node.config_render import SUFFIX_FORMATS, DatasetDraft, SourceFormat
from node.datafiles import columns_of, fit_header
from node.exceptions import ConfigError, DataError
from node.inference import DatasetInference, InferenceError, dataset_name, infer_dataset, missing_tag_note
from node.profiling import SAMPLE_ROWS, header, profile_columns
from node.sampledata import profile_schema, profile_terms


def relative(path: Path, directory: Path) -> str:
    """``path`` as written in ``directory``/node.toml: relative to that folder (POSIX separators)."""
    try:
        return PurePath(os.path.relpath(path.resolve(), directory.resolve())).as_posix()
    except ValueError:  # another drive (Windows): no relative path exists
        return path.resolve().as_posix()


def grouped(items: Sequence[str], *, option: str, named: bool) -> dict[str, list[Path]]:
    """``[NAME=]FILE`` items as files per dataset name (the file's stem names it when ``named`` is False)."""
    groups: dict[str, list[Path]] = {}
    for item in items:
        name, sep, path = item.partition("=")
        if not sep:
            if named:
                raise ConfigError(f"{option} expects NAME=PATH, got {item!r}")
            name, path = dataset_name(Path(item).stem, list(groups)), item
        if not path:
            raise ConfigError(f"{option} {item!r} names no file")
        groups.setdefault(name, []).append(Path(path))
    return groups


def _format(name: str, paths: Sequence[Path]) -> SourceFormat:
    formats = {SUFFIX_FORMATS.get(p.suffix.lower()) for p in paths}
    if len(formats) != 1 or None in formats:
        raise ConfigError(
            f"dataset {name}: files must all be .csv or all .parquet (.pq), got {[p.name for p in paths]}"
        )
    (fmt,) = formats
    assert fmt is not None
    return fmt


def infer_from_files(
    name: str, paths: Sequence[Path], *, today: date, sample_rows: int = SAMPLE_ROWS
) -> DatasetInference:
    """Profile the files and propose the dataset's schema; ``ConfigError`` when they cannot be described."""
    missing = [str(p) for p in paths if not p.is_file()]
    if missing:
        raise ConfigError(f"dataset {name}: no such file: {', '.join(missing)}")
    fmt = _format(name, paths)
    try:
        columns, partial = header(paths, fmt)
        profiles = profile_columns(paths, fmt, columns, sample_rows=sample_rows)
        inferred = infer_dataset(name, profiles, today=today)
    except DataError as exc:
        raise ConfigError(f"dataset {name}: {exc}") from exc
    except InferenceError as exc:
        raise ConfigError(str(exc)) from exc
    if partial:
        inferred = DatasetInference(
            inferred.name, inferred.rows, inferred.fields, (*inferred.skipped, *partial)
        )
    return inferred


def draft_from_inference(inferred: DatasetInference, paths: Sequence[Path], directory: Path) -> DatasetDraft:
    notes = {
        f.spec.name: (*f.notes, *([] if f.tag else [missing_tag_note(f.spec.type)])) for f in inferred.fields
    }
    return DatasetDraft(
        name=inferred.name,
        paths=[relative(p, directory) for p in paths],
        schema=inferred.schema,
        tags=inferred.tags,
        grades=inferred.grades,
        proposed=inferred.proposed,
        notes=notes,
        skipped=inferred.skipped,
    )


def draft_from_profile(name: str, paths: Sequence[Path], directory: Path, profile: str) -> DatasetDraft:
    """A dataset of sample data; its files must carry the profile's columns (a file not there yet may)."""
    schema = profile_schema(profile).model_copy(update={"name": name})
    fmt = _format(name, paths)
    for path in paths:
        if not path.is_file():
            continue
        try:
            fit = fit_header(columns_of(path, fmt), schema)
        except DataError as exc:
            raise ConfigError(f"dataset {name}: {exc}") from exc
        if fit.missing:
            lacks = ", ".join(fit.missing[:5]) + (", ..." if len(fit.missing) > 5 else "")
            raise ConfigError(
                f"dataset {name}: {path} is not {profile} sample data (it lacks {lacks}); "
                f"to describe your own file, use --data {name}={path}"
            )
    tags, grades = profile_terms(profile)
    return DatasetDraft(
        name=name,
        paths=[relative(p, directory) for p in paths],
        schema=schema,
        tags={k: v for k, v in tags.items() if schema.has_field(k)},
        grades={k: v for k, v in grades.items() if schema.has_field(k)},
    )


def render_inference(console: Console, found: DatasetInference) -> None:
    """What ``init`` proposed for one dataset, and what the factory does next."""
    table = Table(title=f"{found.name}: proposed from {found.rows:,} rows (check, then confirm)")
    for column in ("field", "type", "personal", "grade", "tag"):
        table.add_column(column, no_wrap=True)
    table.add_column("bounds or categories", overflow="fold", ratio=1)
    for item in found.fields:
        spec = item.spec
        values = (f"[{spec.lower:g}, {spec.upper:g}]" if spec.type.is_numeric
                  else ", ".join(spec.categories) if spec.categories else "-")  # fmt: skip
        table.add_row(spec.name, spec.type.value, "yes" if spec.personal else "no", item.grade.value,
                      item.tag or "[red]pick one[/red]", values)  # fmt: skip
    console.print(table)
    if found.rows == 0:
        console.print("[yellow]the files have no rows[/yellow]: every column is proposed as text; run init "
                      "again (--force) once they hold data")  # fmt: skip
    for column, why in found.skipped:
        console.print(f"[yellow]not declared[/yellow] column {column!r} {why}")
    console.print(
        "next: read the `# proposal:` comments in node.toml, correct what is wrong, then "
        f"`dataspace-node confirm {found.name}`; `dataspace-node check` compares the files"
    )
