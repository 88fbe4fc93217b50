"""Dataset offers a factory publishes: its public schema plus the terms under which jobs may use it.

Field tags and classification grades come from a terms file or, for sample data, from the profile.
Core-grade and personal fields are always excluded, so no job can ever read them.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

from contracts.jobspec import JobKind
from contracts.offers import DatasetOffer, Grade, Price, validate_offer
from contracts.privacy import PrivacyTerms
from contracts.schema import DatasetSchema, FieldType
from node.config import NodeConfig

# Tags and grades of the steel sample profile (GB/T 43697: production parameters are "important",
# aggregate-friendly operational measures "general"; the heat id identifies a batch and is excluded).
STEEL_TAGS = {
    "ts": "timestamp", "heat_id": "identifier", "line": "production_line", "shift": "shift",
    "process_step": "process_step", "furnace_temp_c": "temperature", "energy_kwh_per_t": "energy_intensity",
    "throughput_t_per_h": "throughput", "defect_rate_pct": "defect_rate", "scrap_ratio": "material_ratio",
    "cycle_time_min": "cycle_time", "operator_name": "person_name", "operator_mobile": "phone_number",
}  # fmt: skip
STEEL_GRADES = {name: Grade.GENERAL for name in STEEL_TAGS} | {
    "furnace_temp_c": Grade.IMPORTANT, "heat_id": Grade.CORE,
    "operator_name": Grade.CORE, "operator_mobile": Grade.CORE,
}  # fmt: skip


@dataclass(frozen=True)
class OfferTerms:
    purposes: tuple[str, ...]
    regions: tuple[str, ...] = ("CN",)
    job_kinds: tuple[str, ...] = tuple(JobKind)
    min_cohort: int = 3
    max_jobs: int = 100
    epsilon_budget: float | None = None
    privacy: PrivacyTerms = field(default_factory=PrivacyTerms)
    valid_days: float = 365
    price_cny: str = "0"


def field_terms(schema: DatasetSchema, terms_file: Path | None) -> tuple[dict[str, str], dict[str, Grade]]:
    """Tags and grades per field: from a JSON terms file ({"tags": {...}, "grades": {...}}) or the profile."""
    if terms_file is not None:
        data: dict[str, Any] = json.loads(terms_file.read_text())
        return dict(data["tags"]), {k: Grade(v) for k, v in data["grades"].items()}
    return (
        {f.name: STEEL_TAGS[f.name] for f in schema.fields if f.name in STEEL_TAGS},
        {f.name: STEEL_GRADES[f.name] for f in schema.fields if f.name in STEEL_GRADES},
    )


def build_offer(
    config: NodeConfig, dataset: str, terms: OfferTerms, now: datetime, terms_file: Path | None = None
) -> DatasetOffer:
    schema = config.dataset(dataset).schema
    tags, grades = field_terms(schema, terms_file)
    excluded = [
        f.name
        for f in schema.fields
        if f.personal or grades.get(f.name) is Grade.CORE or f.type is FieldType.TEXT
    ]
    offer = DatasetOffer(
        offer_id="offer_" + uuid.uuid4().hex[:20],
        provider=config.participant_id,
        dataset=dataset,
        dataset_schema=schema,
        tags=tags,
        grades=grades,
        excluded_fields=tuple(excluded),
        allowed_job_kinds=tuple(JobKind(k) for k in terms.job_kinds),
        allowed_purposes=terms.purposes,
        allowed_regions=terms.regions,
        min_cohort=terms.min_cohort,
        max_jobs=terms.max_jobs,
        epsilon_budget=terms.epsilon_budget,
        privacy=terms.privacy,
        not_before=now,
        not_after=now + timedelta(days=terms.valid_days),
        price=Price(amount=Decimal(terms.price_cny), currency="CNY"),
    )
    validate_offer(offer)
    return offer
