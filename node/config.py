"""The factory node's TOML configuration: identity, local datasets with their public schemas, accepted jobs.

``render_config`` (``node.config_render``) writes a commented file meant to be read and edited by the
factory's staff; ``load_config`` reads it back and reports any problem with the key it concerns. Besides
the public schema, each field table may carry the field's ``grade`` and semantic ``tag`` (used to publish
offers) and ``proposed``, the keys whose values the node proposed and nobody has confirmed yet.
"""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Annotated, Any, Final, Self

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator
from pydantic.dataclasses import dataclass

from contracts.jobspec import JobKind
from contracts.offers import Grade
from contracts.schema import IDENTIFIER_PATTERN, DatasetSchema
from contracts.vocabulary import TAGS
from node.config_render import SUFFIX_FORMATS, DatasetDraft, SourceFormat, render_config
from node.exceptions import ConfigError

__all__ = [
    "ANY_BUYER",
    "PROPOSABLE",
    "AcceptRule",
    "ContractRules",
    "DatasetConfig",
    "DatasetDraft",
    "NodeConfig",
    "SourceFormat",
    "load_config",
    "render_config",
]

ANY_BUYER = "*"
# Keys of a field table whose value the node may propose; a person confirms them.
PROPOSABLE: Final = ("min", "max", "categories", "personal", "grade", "tag")


@dataclass(frozen=True, config=ConfigDict(extra="forbid"))
class DatasetConfig:
    """A local dataset: its files (all of one format) and the public schema it is offered under."""

    name: Annotated[str, Field(pattern=IDENTIFIER_PATTERN)]
    paths: Annotated[list[Path], Field(min_length=1)]
    format: SourceFormat
    schema: DatasetSchema
    tags: dict[str, str] = Field(default_factory=dict)  # field -> semantic tag
    grades: dict[str, Grade] = Field(default_factory=dict)  # field -> GB/T 43697 grade
    proposed: dict[str, tuple[str, ...]] = Field(default_factory=dict)  # field -> keys not yet confirmed

    def unconfirmed(self) -> dict[str, tuple[str, ...]]:
        """Per field, the keys whose proposed values nobody has confirmed (fields with none left out)."""
        return {name: keys for name, keys in self.proposed.items() if keys}

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
    if isinstance(entry.get("fields"), list):
        entry["fields"], declared = _field_terms(index, entry["fields"])
        entry.update(declared)
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
    formats = {SUFFIX_FORMATS.get(s) for s in suffixes}
    if len(formats) != 1 or None in formats:
        key = f"datasets[{index}].format"
        raise ConfigError(
            f'{key}: cannot infer the format from suffixes {sorted(suffixes)}; set "csv" or "parquet"',
            key=key,
        )
    (found,) = formats
    assert found is not None
    return found


def _field_terms(index: int, fields: list[Any]) -> tuple[list[Any], dict[str, dict[str, Any]]]:
    """Take ``grade``, ``tag`` and ``proposed`` out of the field tables, checked, keyed by field name."""
    tables: list[Any] = []
    declared: dict[str, dict[str, Any]] = {"tags": {}, "grades": {}, "proposed": {}}
    for position, table in enumerate(fields):
        if not isinstance(table, dict):
            tables.append(table)
            continue
        table = dict(table)
        terms = {key: table.pop(key) for key in ("grade", "tag", "proposed") if key in table}
        tables.append(table)
        name = table.get("name")
        if not isinstance(name, str):
            continue
        at = f"datasets[{index}].fields[{position}]"
        if "grade" in terms:
            declared["grades"][name] = _grade(terms["grade"], f"{at}.grade")
        if "tag" in terms:
            declared["tags"][name] = _tag(terms["tag"], f"{at}.tag")
        if "proposed" in terms:
            declared["proposed"][name] = _proposed(terms["proposed"], f"{at}.proposed")
    return tables, declared


def _grade(value: Any, key: str) -> Grade:
    try:
        return Grade(value)
    except ValueError:
        raise ConfigError(
            f"{key}: {value!r} is not a grade; use core, important or general", key=key
        ) from None


def _tag(value: Any, key: str) -> str:
    if not isinstance(value, str) or value not in TAGS:
        raise ConfigError(
            f"{key}: {value!r} is not a tag of the vocabulary; known: {', '.join(TAGS)}", key=key
        )
    return value


def _proposed(value: Any, key: str) -> tuple[str, ...]:
    if not isinstance(value, list) or not all(isinstance(k, str) and k in PROPOSABLE for k in value):
        raise ConfigError(f"{key}: expected a list of keys among {', '.join(PROPOSABLE)}", key=key)
    return tuple(dict.fromkeys(value))


def _key(loc: tuple[int | str, ...]) -> str:
    """Spell a validation location as the TOML key a person edits, e.g. ``datasets[0].fields[2].max``."""
    key = ""
    for i, part in enumerate(loc):
        if part == "schema" and i >= 2 and loc[0] == "datasets":
            continue  # the schema keys sit directly in the dataset table
        key += f"[{part}]" if isinstance(part, int) else f".{part}" if key else str(part)
    return key
