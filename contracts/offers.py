"""Dataset offers: what a factory publishes about one dataset and on which terms it may be used.

Rules kept by ``validate_offer``: every field carries a semantic tag from the controlled vocabulary and a
GB/T 43697 grade; core (核心) fields and personal-information fields are described but always listed in
``excluded_fields``, so no job kind can measure, group by or filter on them. Extract terms, where an offer
declares them, release general-grade fields only (``contracts.extracts.terms``).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from decimal import Decimal
from typing import Annotated, Any

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, field_validator

from contracts.exceptions import OfferError, OfferErrorCode
from contracts.extracts.terms import ExtractTerms, check_extract_terms
from contracts.grades import Grade as Grade
from contracts.jobspec import PSI_KINDS, JobKind
from contracts.privacy import PrivacyTerms
from contracts.schema import IDENTIFIER_PATTERN, DatasetSchema, FieldSpec, FieldType
from contracts.vocabulary import PURPOSES, TAGS

ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$"
REGION_PATTERN = r"^[A-Z]{2}$"
Region = Annotated[str, Field(pattern=REGION_PATTERN)]


def strictest(grades: Iterable[Grade]) -> Grade:
    """The strictest of ``grades`` (general if there are none)."""
    return max(grades, key=lambda g: g.rank, default=Grade.GENERAL)


def sorted_unique(values: Iterable[Any]) -> tuple[Any, ...]:
    """Sets travel as sorted tuples so their canonical JSON, and hence every signature, is stable."""
    return tuple(sorted(set(values)))


def as_utc(value: datetime) -> datetime:
    return value.astimezone(UTC)


class Price(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    amount: Decimal = Field(ge=0, max_digits=18, decimal_places=2)
    currency: str = Field(pattern=r"^[A-Z]{3}$")  # ISO 4217


class DataQuality(BaseModel):
    """Figures a node measures over the offer's usable fields when it publishes, for buyers to compare.

    Coarse on purpose: the row count has two significant digits (production volume is business data) and
    the shares are in hundredths, rounded towards the worse side. ``validity`` is the share of present
    values within the declared bounds or categories; ``last_update`` the newest timestamp of the data (or
    the newest file's time).
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    rows: int = Field(ge=0)
    completeness: float = Field(ge=0, le=1, allow_inf_nan=False)
    validity: float = Field(ge=0, le=1, allow_inf_nan=False)
    duplicate_rate: float = Field(ge=0, le=1, allow_inf_nan=False)
    last_update: AwareDatetime | None = None
    measured_at: AwareDatetime


class DatasetOffer(BaseModel):
    """One provider's offer of one dataset. ``tags`` and ``grades`` map every schema field."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    offer_id: str = Field(pattern=ID_PATTERN)
    provider: str = Field(pattern=ID_PATTERN)
    dataset: str = Field(pattern=IDENTIFIER_PATTERN)
    dataset_schema: DatasetSchema
    description: str = ""
    tags: dict[str, str]
    grades: dict[str, Grade]
    excluded_fields: tuple[str, ...] = ()
    allowed_job_kinds: tuple[JobKind, ...] = Field(min_length=1)
    allowed_purposes: tuple[str, ...] = Field(min_length=1)
    allowed_regions: tuple[Region, ...] = Field(min_length=1)
    min_cohort: int = Field(default=3, ge=3, le=10_000)
    max_jobs: int = Field(ge=1)
    epsilon_budget: float | None = Field(default=None, gt=0, allow_inf_nan=False)
    privacy: PrivacyTerms = Field(default_factory=PrivacyTerms)
    not_before: AwareDatetime
    not_after: AwareDatetime
    price: Price
    # How long the buyer may keep results; becomes a delete_after duty of the contract.
    retention_days: int = Field(default=90, ge=1, le=3650)
    # Record-level releases (the ``extract`` job kind and the catalogue preview); none without them.
    extract: ExtractTerms | None = Field(default=None, exclude_if=lambda terms: terms is None)
    quality: DataQuality | None = Field(default=None, exclude_if=lambda quality: quality is None)

    @field_validator("excluded_fields", "allowed_job_kinds", "allowed_purposes", "allowed_regions")
    @classmethod
    def _sorted(cls, values: tuple[Any, ...]) -> tuple[Any, ...]:
        return sorted_unique(values)

    @field_validator("not_before", "not_after")
    @classmethod
    def _utc(cls, value: datetime) -> datetime:
        return as_utc(value)

    def usable_fields(self) -> tuple[str, ...]:
        """Fields a job may read under this offer, in schema order."""
        return tuple(spec.name for spec in self.dataset_schema.fields if self.is_usable(spec))

    def is_usable(self, spec: FieldSpec) -> bool:
        grade = self.grades.get(spec.name, Grade.CORE)  # an ungraded field is treated as core
        return not (
            spec.name in self.excluded_fields
            or spec.personal
            or grade is Grade.CORE
            # Free text is never measured; it may be a key only where the offer allows set intersections.
            or (spec.type is FieldType.TEXT and not PSI_KINDS & set(self.allowed_job_kinds))
            or _has_personal_tag(self, spec.name)
        )

    def fields_of_grade(self, grade: Grade) -> tuple[str, ...]:
        return tuple(name for name in self.dataset_schema.field_names if self.grades.get(name) is grade)

    def personal_fields(self) -> tuple[str, ...]:
        return tuple(
            spec.name
            for spec in self.dataset_schema.fields
            if spec.personal or _has_personal_tag(self, spec.name)
        )


def _has_personal_tag(offer: DatasetOffer, name: str) -> bool:
    tag = TAGS.get(offer.tags.get(name, ""))
    return tag is not None and tag.personal


def field_key(offer: DatasetOffer, spec: FieldSpec) -> tuple[object, ...]:
    # Every node clips, filters and lays out statistics from these, so all offers must agree on them exactly;
    # the granularity is compared as it takes effect, so an unset step equals its default written out.
    return (
        spec.type,
        spec.unit,
        spec.min,
        spec.max,
        spec.categories,
        spec.filter_granularity,
        offer.tags.get(spec.name),
    )


def common_usable_fields(offers: Sequence[DatasetOffer]) -> tuple[FieldSpec, ...]:
    """Fields usable under every offer and described identically by all (in the first offer's order)."""
    if not offers:
        return ()
    first = offers[0]
    common = []
    for name in first.usable_fields():
        key = field_key(first, first.dataset_schema.field(name))
        if all(
            name in o.usable_fields() and field_key(o, o.dataset_schema.field(name)) == key for o in offers
        ):
            common.append(first.dataset_schema.field(name))
    return tuple(common)


def validate_offer(offer: DatasetOffer) -> None:
    """Raise ``OfferError`` unless ``offer`` keeps the rules of the space."""
    _check_names(offer)
    for spec in offer.dataset_schema.fields:
        _check_tag(offer, spec)
        _check_grade(offer, spec)
    unknown_purposes = [p for p in offer.allowed_purposes if p not in PURPOSES]
    if unknown_purposes:
        raise OfferError(
            OfferErrorCode.UNKNOWN_PURPOSE,
            f"purposes outside the controlled list: {unknown_purposes}",
            purposes=unknown_purposes,
        )
    if offer.not_before >= offer.not_after:
        raise OfferError(
            OfferErrorCode.EMPTY_VALIDITY_WINDOW,
            "not_before must be earlier than not_after",
            not_before=offer.not_before.isoformat(),
            not_after=offer.not_after.isoformat(),
        )
    if offer.extract is not None:
        check_extract_terms(offer.extract, offer.dataset_schema, offer.tags, offer.grades)


def _check_names(offer: DatasetOffer) -> None:
    schema = offer.dataset_schema
    if offer.dataset != schema.name:
        raise OfferError(
            OfferErrorCode.DATASET_MISMATCH,
            f"offer names dataset {offer.dataset!r} but its schema describes {schema.name!r}",
            dataset=offer.dataset,
            schema=schema.name,
        )
    named: dict[str, Iterable[str]] = {
        "tags": offer.tags,
        "grades": offer.grades,
        "excluded_fields": offer.excluded_fields,
    }
    for what, names in named.items():
        unknown = sorted(set(names) - set(schema.field_names))
        if unknown:
            raise OfferError(
                OfferErrorCode.UNKNOWN_FIELD,
                f"{what} name fields not in the schema: {unknown}",
                fields=unknown,
            )


def _check_tag(offer: DatasetOffer, spec: FieldSpec) -> None:
    name = spec.name
    if name not in offer.tags:
        raise OfferError(OfferErrorCode.MISSING_TAG, f"field {name!r} has no semantic tag", field=name)
    tag = TAGS.get(offer.tags[name])
    if tag is None:
        raise OfferError(
            OfferErrorCode.UNKNOWN_TAG,
            f"field {name!r}: tag {offer.tags[name]!r} is not in the vocabulary",
            field=name,
            tag=offer.tags[name],
        )
    if spec.type not in tag.field_types:
        raise OfferError(
            OfferErrorCode.TAG_TYPE_MISMATCH,
            f"field {name!r}: tag {tag.name!r} does not describe a {spec.type} field",
            field=name,
            tag=tag.name,
            type=spec.type,
        )
    if tag.personal and not spec.personal:
        raise OfferError(
            OfferErrorCode.PERSONAL_FLAG_MISSING,
            f"field {name!r} is tagged {tag.name!r}, which is personal information, but not flagged personal",
            field=name,
            tag=tag.name,
        )


def _check_grade(offer: DatasetOffer, spec: FieldSpec) -> None:
    name = spec.name
    grade = offer.grades.get(name)
    if grade is None:
        raise OfferError(OfferErrorCode.MISSING_GRADE, f"field {name!r} has no grade", field=name)
    excluded = name in offer.excluded_fields
    if grade is Grade.CORE and not excluded:
        raise OfferError(
            OfferErrorCode.CORE_FIELD_OFFERED,
            f"field {name!r} is core data and must be listed in excluded_fields",
            field=name,
        )
    if spec.personal and not excluded:
        raise OfferError(
            OfferErrorCode.PERSONAL_FIELD_OFFERED,
            f"field {name!r} holds personal information and must be listed in excluded_fields",
            field=name,
        )
