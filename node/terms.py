"""The terms file of ``dataspace-node publish --terms FILE``: the terms under which jobs may use a dataset.

A TOML file; every key is optional except the purposes (here or as ``--purpose``), and a command-line
option given overrides the file::

    purposes = ["energy_benchmarking"]   # controlled list: contracts.vocabulary.PURPOSES
    regions = ["CN"]                     # buyer regions (ISO 3166); important fields never leave CN
    kinds = ["count", "mean"]            # job kinds (default: all)
    valid_days = 365                     # the offer is valid from now for this many days
    price_cny = "0"
    retention_days = 90                  # the buyer deletes results after this many days

    [budget]
    max_jobs = 100                       # jobs a contract may run
    epsilon = 2.0                        # differential-privacy budget of a contract (omit: none)
    delta = 1e-6
    noise = "distributed"                # or "central"

    [minimums]
    cohort = 3                           # fewest factories behind any released figure
    rows_per_factory = 10                # fewest rows of this factory behind a cell it contributes to
    cell_rows = 30                       # fewest rows behind any released cell

    [filters]                            # the granularity at which jobs may filter, per field
    temperature = 50                     # a number: filters cut only at multiples of 50
    timestamp = "day"                    # a timestamp: whole days ("day") or hours ("hour")

    [extract]                            # only to allow record-level extracts (kind "extract")
    k = 5                                # every released row shares its quasi-identifiers with k - 1 others
    l = 2                                # and each such class holds 2 distinct values of `sensitive`
    sensitive = "defect_rate_pct"
    max_suppression = 0.05               # the share of rows that may be dropped whole to reach k
    quasi_identifiers = [
        { field = "line" },              # a category generalizes to "*" unless a hierarchy is given
        { field = "throughput_t_per_h", hierarchy = { widths = [10, 50, 100] } },
    ]
    [extract.rules.fields]               # a released field needs a rule; fields without one never leave
    line = { op = "keep" }
    throughput_t_per_h = { op = "keep" }
    defect_rate_pct = { op = "keep" }
    ts = { op = "date_shift", entity_field = "heat_id", max_days = 30 }
    energy_kwh_per_t = { op = "bucket", width = 10 }

The ``[extract]`` table can also be its own file (``--extract FILE``, TOML or JSON). Rules are ``keep``,
``mask``, ``pseudonym``, ``ff1``, ``generalize``, ``bucket``, ``date_shift`` and ``suppress``
(``contracts.desensitize.rules``); only general-grade fields may carry one, and personal fields only one
that removes their content.

The node itself enforces filter granularity, from ``filter_step`` and ``filter_resolution`` in node.toml;
``[filters]`` states what the factory means to offer, and publishing refuses when node.toml says otherwise
rather than publish one granularity and enforce another.
"""

from __future__ import annotations

import json
import math
import tomllib
from collections.abc import Mapping
from dataclasses import replace
from pathlib import Path
from typing import Any, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from contracts.extracts.terms import ExtractTerms
from contracts.jobspec import JobKind
from contracts.privacy import NoiseMode, PrivacyTerms
from contracts.schema import DatasetSchema, FieldType
from node.exceptions import ConfigError
from node.offers import OfferTerms

_Model = TypeVar("_Model", bound=BaseModel)


class _Budget(BaseModel):
    model_config = ConfigDict(extra="forbid")

    max_jobs: int | None = Field(default=None, ge=1)
    epsilon: float | None = Field(default=None, gt=0, allow_inf_nan=False)
    delta: float | None = Field(default=None, gt=0, le=1e-3)
    noise: NoiseMode | None = None


class _Minimums(BaseModel):
    model_config = ConfigDict(extra="forbid")

    cohort: int | None = Field(default=None, ge=3)
    rows_per_factory: int | None = Field(default=None, ge=1)
    cell_rows: int | None = Field(default=None, ge=1)


class TermsFile(BaseModel):
    """What a terms file may say; ``None`` leaves the default (or the command-line option) in force."""

    model_config = ConfigDict(extra="forbid")

    purposes: list[str] | None = Field(default=None, min_length=1)
    regions: list[str] | None = Field(default=None, min_length=1)
    kinds: list[JobKind] | None = Field(default=None, min_length=1)
    valid_days: float | None = Field(default=None, gt=0)
    price_cny: str | None = None
    retention_days: int | None = Field(default=None, ge=1, le=3650)
    budget: _Budget = Field(default_factory=_Budget)
    minimums: _Minimums = Field(default_factory=_Minimums)
    filters: dict[str, float | Literal["day", "hour"]] = Field(default_factory=dict)
    extract: ExtractTerms | None = None


def read_terms(path: Path) -> TermsFile:
    return _validated(TermsFile, _read_document(path, "terms file"), path)


def read_extract_terms(path: Path) -> ExtractTerms:
    """The extract terms of ``path``: the ``[extract]`` table of a terms file, as a file of its own."""
    return _validated(ExtractTerms, _read_document(path, "extract terms file"), path)


def _read_document(path: Path, what: str) -> Any:
    """The TOML (or, for a ``.json`` file, JSON) document of ``path``; ``ConfigError`` saying why not."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"cannot read the {what} {path}: {getattr(exc, 'strerror', None) or exc}") from exc
    try:
        return json.loads(text) if path.suffix.lower() == ".json" else tomllib.loads(text)
    except (tomllib.TOMLDecodeError, json.JSONDecodeError) as exc:
        language = "JSON" if path.suffix.lower() == ".json" else "TOML"
        raise ConfigError(f"the {what} {path} is not valid {language}: {exc}") from exc


def _validated(model: type[_Model], raw: Any, path: Path) -> _Model:
    try:
        return model.model_validate(raw)
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())
        raise ConfigError(f"invalid {path.name}: {problems}") from exc


def offer_terms(file: TermsFile, options: dict[str, Any]) -> OfferTerms:
    """The file's terms with every option that is not None laid over them, on the defaults."""
    budget, minimums = file.budget, file.minimums
    chosen: dict[str, Any] = {
        "purposes": file.purposes, "regions": file.regions, "kinds": file.kinds,
        "valid_days": file.valid_days, "price": file.price_cny, "retention_days": file.retention_days,
        "max_jobs": budget.max_jobs, "epsilon": budget.epsilon, "delta": budget.delta, "noise": budget.noise,
        "min_cohort": minimums.cohort, "min_rows": minimums.rows_per_factory,
        "min_cell_rows": minimums.cell_rows,
    }  # fmt: skip
    chosen |= {key: value for key, value in options.items() if value is not None and value != []}
    if not chosen.get("purposes"):
        raise ConfigError("no purpose: give --purpose or `purposes` in a terms file")
    defaults = OfferTerms(purposes=tuple(chosen["purposes"]))
    privacy = PrivacyTerms(
        min_rows_per_factory=chosen.get("min_rows") or defaults.privacy.min_rows_per_factory,
        min_cell_rows=chosen.get("min_cell_rows") or defaults.privacy.min_cell_rows,
        noise_mode=NoiseMode(chosen.get("noise") or defaults.privacy.noise_mode),
        delta=chosen.get("delta") or defaults.privacy.delta,
    )
    return replace(
        defaults,
        regions=tuple(chosen.get("regions") or defaults.regions),
        job_kinds=tuple(JobKind(k) for k in chosen.get("kinds") or defaults.job_kinds),
        min_cohort=chosen.get("min_cohort") or defaults.min_cohort,
        max_jobs=chosen.get("max_jobs") or defaults.max_jobs,
        epsilon_budget=chosen.get("epsilon"),
        privacy=privacy,
        valid_days=chosen.get("valid_days") or defaults.valid_days,
        price_cny=str(chosen.get("price") or defaults.price_cny),
        retention_days=chosen.get("retention_days") or defaults.retention_days,
    )


def check_filters(filters: Mapping[str, float | str], schema: DatasetSchema) -> None:
    """Raise ``ConfigError`` unless every granularity in ``filters`` is the one the schema enforces."""
    problems = []
    for name, wanted in filters.items():
        if not schema.has_field(name):
            problems.append(f"{name}: no such field")
            continue
        spec = schema.field(name)
        if spec.type is FieldType.TIMESTAMP and isinstance(wanted, str):
            if wanted != spec.effective_filter_resolution:
                problems.append(
                    f"{name}: node.toml has filter_resolution {spec.effective_filter_resolution!r}"
                )
        elif spec.type.is_numeric and isinstance(wanted, int | float) and not isinstance(wanted, bool):
            step = spec.effective_filter_step
            if not math.isclose(float(wanted), step, rel_tol=1e-9):
                problems.append(f"{name}: node.toml has filter_step {step:g}")
        else:
            problems.append(
                f"{name}: a {spec.type} field takes no {wanted!r} (numbers a step, timestamps day/hour)"
            )
    if problems:
        raise ConfigError(
            "the terms file's [filters] differ from what the node enforces: "
            + "; ".join(problems)
            + ". Set filter_step / filter_resolution in node.toml (and restart the node), "
            "or change the terms file"
        )
