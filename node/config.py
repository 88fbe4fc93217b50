"""The factory node's TOML configuration: identity, local datasets with their public schemas, accepted jobs.

``render_config`` writes a commented file meant to be read and edited by the factory's staff;
``load_config`` reads it back and reports any problem with the key it concerns.
"""

from __future__ import annotations

import tomllib
from collections.abc import Sequence
from pathlib import Path
from typing import Annotated, Any, Literal, Self

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator
from pydantic.dataclasses import dataclass

from contracts.jobspec import JobKind
from contracts.schema import IDENTIFIER_PATTERN, DatasetSchema, FieldSpec, FieldType
from node.exceptions import ConfigError

SourceFormat = Literal["csv", "parquet"]
ANY_BUYER = "*"
_SUFFIX_FORMATS: dict[str, SourceFormat] = {".csv": "csv", ".parquet": "parquet", ".pq": "parquet"}


@dataclass(frozen=True, config=ConfigDict(extra="forbid"))
class DatasetConfig:
    """A local dataset: its files (all of one format) and the public schema it is offered under."""

    name: Annotated[str, Field(pattern=IDENTIFIER_PATTERN)]
    paths: Annotated[list[Path], Field(min_length=1)]
    format: SourceFormat
    schema: DatasetSchema

    @model_validator(mode="after")
    def _schema_named_like_dataset(self) -> Self:
        if self.schema.name != self.name:
            raise ValueError(f"schema name {self.schema.name!r} differs from dataset name {self.name!r}")
        return self


class AcceptRule(BaseModel):
    """Job kinds this node runs for a buyer (``*`` for any buyer), on top of what contracts allow."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    buyer: str = Field(min_length=1)
    kinds: list[JobKind] = Field(min_length=1)


class ContractRules(BaseModel):
    """Which proposed usage contracts the node approves by itself; all others wait for a person."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    auto_approve: list[str] = Field(default_factory=list)  # buyer ids, or "*" for any buyer

    def approves(self, buyer_id: str) -> bool:
        return ANY_BUYER in self.auto_approve or buyer_id in self.auto_approve


class NodeConfig(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    node_name: str = Field(min_length=1)
    participant_id: str = Field(min_length=1)
    contracts: ContractRules = Field(default_factory=ContractRules)
    datasets: list[DatasetConfig] = Field(default_factory=list)
    accept: list[AcceptRule] = Field(default_factory=list)

    @model_validator(mode="after")
    def _unique_dataset_names(self) -> Self:
        names = [d.name for d in self.datasets]
        duplicates = sorted({n for n in names if names.count(n) > 1})
        if duplicates:
            raise ValueError(f"dataset names must be unique, repeated: {', '.join(duplicates)}")
        return self

    def accepts(self, buyer_id: str, kind: JobKind | str) -> bool:
        """Whether some rule lets ``buyer_id`` run jobs of ``kind``; without rules nothing is accepted."""
        return any(rule.buyer in (ANY_BUYER, buyer_id) and kind in rule.kinds for rule in self.accept)

    def dataset(self, name: str) -> DatasetConfig:
        for dataset in self.datasets:
            if dataset.name == name:
                return dataset
        raise ConfigError(f"no dataset named {name!r} is configured", key="datasets")


# ------------------------------------------------------------------------------------------------ load


def load_config(path: Path) -> NodeConfig:
    """Read and validate a node configuration; relative data paths resolve against the file's folder."""
    path = Path(path)
    try:
        with path.open("rb") as handle:
            raw = tomllib.load(handle)
    except OSError as exc:
        raise ConfigError(f"cannot read configuration {path}: {exc.strerror or exc}") from exc
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path} is not valid TOML: {exc}") from exc
    try:
        raw["datasets"] = _normalised_datasets(raw.get("datasets", []), path.resolve().parent)
    except ConfigError as exc:
        raise ConfigError(f"invalid configuration {path}: {exc}", key=exc.key) from None
    try:
        return NodeConfig.model_validate(raw)
    except ValidationError as exc:
        first = exc.errors()[0]
        problems = "; ".join(f"{_key(e['loc'])}: {e['msg']}" for e in exc.errors())
        raise ConfigError(f"invalid configuration {path}: {problems}", key=_key(first["loc"])) from exc


def _normalised_datasets(entries: Any, base: Path) -> Any:
    """Turn the flat TOML dataset tables into ``DatasetConfig`` input; odd shapes are left to validation."""
    if not isinstance(entries, list):
        return entries
    return [
        _normalised_dataset(i, entry, base) if isinstance(entry, dict) else entry
        for i, entry in enumerate(entries)
    ]


def _normalised_dataset(index: int, entry: dict[str, Any], base: Path) -> dict[str, Any]:
    entry = dict(entry)
    schema_keys = {"description", "fields"}
    schema = {key: entry.pop(key) for key in schema_keys & entry.keys()}
    schema["name"] = entry.get("name")
    entry["schema"] = schema
    paths = entry.get("paths")
    if isinstance(paths, list) and all(isinstance(p, str) for p in paths):
        entry["paths"] = [(base / p).resolve() for p in paths]
        if "format" not in entry and paths:
            entry["format"] = _inferred_format(index, entry["paths"])
    return entry


def _inferred_format(index: int, paths: list[Path]) -> SourceFormat:
    suffixes = {p.suffix.lower() for p in paths}
    formats = {_SUFFIX_FORMATS.get(s) for s in suffixes}
    if len(formats) != 1 or None in formats:
        key = f"datasets[{index}].format"
        raise ConfigError(
            f'{key}: cannot infer the format from suffixes {sorted(suffixes)}; set "csv" or "parquet"',
            key=key,
        )
    (found,) = formats
    assert found is not None
    return found


def _key(loc: tuple[int | str, ...]) -> str:
    """Spell a validation location as the TOML key a person edits, e.g. ``datasets[0].fields[2].max``."""
    key = ""
    for i, part in enumerate(loc):
        if part == "schema" and i >= 2 and loc[0] == "datasets":
            continue  # the schema keys sit directly in the dataset table
        key += f"[{part}]" if isinstance(part, int) else f".{part}" if key else str(part)
    return key


# ---------------------------------------------------------------------------------------------- render

_HEADER = """\
# Configuration of an industrial-dataspace factory node.
# Raw rows never leave this machine: jobs read the files below locally and only securely aggregated
# statistics are sent out. Relative paths are resolved against the folder of this file.

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
#   text fields are never usable in jobs; timestamps only in filters
"""

_CONTRACTS = """
# Usage contracts proposed by buyers over this node's offers. Proposals from the buyers listed here
# ("*" = any buyer) are approved and signed by the node itself; all others wait for a person:
#   dataspace-node contracts pending | approve ID | reject ID
[contracts]
auto_approve = [{buyers}]
"""

_ACCEPT_HEADER = """
# ------------------------------------------------------------------------------------------------------
# Job kinds this node runs, per buyer participant id ("*" = any buyer), in addition to the signed
# contracts. Kinds: count, sum, mean, variance, histogram, linear_regression.
# A job that no rule accepts is refused.
"""


def render_config(
    *,
    node_name: str,
    participant_id: str,
    datasets: Sequence[tuple[str, Path | Sequence[Path], DatasetSchema]],
    accept: Sequence[tuple[str, Sequence[JobKind | str]]],
    auto_approve: Sequence[str] = (),
) -> str:
    """Render a commented TOML configuration that ``load_config`` reads back into the same objects.

    A dataset's schema is published under the dataset's name.
    """
    parts = [_HEADER.format(node_name=_string(node_name), participant_id=_string(participant_id))]
    parts.append(_CONTRACTS.format(buyers=", ".join(_string(b) for b in auto_approve)))
    for name, paths, schema in datasets:
        parts.append(_render_dataset(name, [paths] if isinstance(paths, Path) else list(paths), schema))
    parts.append(_ACCEPT_HEADER)
    if not accept:
        parts.append("# (no rules: this node accepts no jobs)\n")
    for buyer, kinds in accept:
        kind_list = ", ".join(_string(JobKind(k).value) for k in kinds)
        parts.append(f"[[accept]]\nbuyer = {_string(buyer)}\nkinds = [{kind_list}]\n")
    return "".join(parts)


def _render_dataset(name: str, paths: list[Path], schema: DatasetSchema) -> str:
    formats = {_SUFFIX_FORMATS.get(p.suffix.lower()) for p in paths}
    fmt = formats.pop() if len(formats) == 1 else None
    if fmt is None:
        raise ValueError(f"dataset {name!r}: paths must all be .csv or all .parquet files")
    text = _DATASET.format(
        name=_string(name),
        description=_string(schema.description),
        paths=", ".join(_string(p.as_posix()) for p in paths),
        format=_string(fmt),
    )
    return text + "".join(_render_field(field) for field in schema.fields)


def _render_field(field: FieldSpec) -> str:
    lines = [
        "",
        "[[datasets.fields]]",
        f"name = {_string(field.name)}",
        f"type = {_string(field.type.value)}",
    ]
    if field.unit or field.type.is_numeric:
        lines.append(f"unit = {_string(field.unit)}")
    lines.append(f"description = {_string(field.description)}")
    if field.type.is_numeric:
        lines += [f"min = {_number(field.lower, field)}", f"max = {_number(field.upper, field)}"]
    if field.filter_step is not None:
        lines.append(f"filter_step = {_number(field.filter_step, field)}")
    if field.filter_resolution is not None:
        lines.append(f"filter_resolution = {_string(field.filter_resolution)}")
    if field.categories is not None:
        lines.append(f"categories = [{', '.join(_string(c) for c in field.categories)}]")
    lines.append(f"personal = {'true' if field.personal else 'false'}")
    return "\n".join(lines) + "\n"


def _number(value: float, field: FieldSpec) -> str:
    return str(int(value)) if field.type is FieldType.INTEGER else repr(float(value))


_ESCAPES = {'"': '\\"', "\\": "\\\\", "\b": "\\b", "\t": "\\t", "\n": "\\n", "\f": "\\f", "\r": "\\r"}


def _string(value: str) -> str:
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
