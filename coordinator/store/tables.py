"""Database tables of the coordinator (SQLModel); every state a restart must not lose lives here."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from sqlalchemy import BigInteger, DateTime, Index, LargeBinary
from sqlmodel import Field, SQLModel

# Timezone-aware on PostgreSQL; SQLite keeps the UTC wall time and the store re-attaches UTC.
_UTC_DATETIME = DateTime(timezone=True)


class JobState(StrEnum):
    QUEUED = "QUEUED"
    RUNNING = "RUNNING"
    SUCCEEDED = "SUCCEEDED"
    FAILED = "FAILED"
    CANCELLED = "CANCELLED"


TERMINAL_STATES = frozenset({JobState.SUCCEEDED, JobState.FAILED, JobState.CANCELLED})


class Participant(SQLModel, table=True):
    __tablename__ = "participant"

    participant_id: str = Field(primary_key=True, max_length=18)
    role: str = Field(max_length=16)
    enrolled_at: datetime = Field(sa_type=_UTC_DATETIME)
    certificate_serial: str | None = Field(default=None, max_length=64)
    certificate_not_after: datetime | None = Field(default=None, sa_type=_UTC_DATETIME)


class EnrollmentTokenRow(SQLModel, table=True):
    __tablename__ = "enrollment_token"

    token_id: str = Field(primary_key=True, max_length=32)
    secret_hash: str = Field(max_length=64)
    participant_id: str = Field(max_length=18)
    role: str = Field(max_length=16)
    created_at: datetime = Field(sa_type=_UTC_DATETIME)
    expires_at: datetime = Field(sa_type=_UTC_DATETIME)
    used_at: datetime | None = Field(default=None, sa_type=_UTC_DATETIME)


class ApiToken(SQLModel, table=True):
    __tablename__ = "api_token"

    token_hash: str = Field(primary_key=True, max_length=64)
    participant_id: str = Field(max_length=18)
    role: str = Field(max_length=16)
    created_at: datetime = Field(sa_type=_UTC_DATETIME)
    revoked_at: datetime | None = Field(default=None, sa_type=_UTC_DATETIME)


class NodeDataset(SQLModel, table=True):
    __tablename__ = "node_dataset"

    participant_id: str = Field(primary_key=True, max_length=18)
    dataset: str = Field(primary_key=True, max_length=64)
    schema_text: str
    updated_at: datetime = Field(sa_type=_UTC_DATETIME)


class Job(SQLModel, table=True):
    __tablename__ = "job"

    job_id: str = Field(primary_key=True, max_length=40)
    buyer_id: str = Field(index=True, max_length=18)
    contract_id: str | None = Field(default=None, index=True, max_length=64)
    kind: str = Field(max_length=32)
    spec_json: str
    state: str = Field(index=True, max_length=16)
    reason: str | None = None
    attempts: int = 0
    contributors: int | None = None
    result_json: str | None = None
    claimed_by: str | None = Field(default=None, max_length=64)
    created_at: datetime = Field(sa_type=_UTC_DATETIME)
    updated_at: datetime = Field(sa_type=_UTC_DATETIME)


class JobInputRow(SQLModel, table=True):
    """A buyer's private job input (an encrypted query), named by its SHA-256, used by its buyer's jobs."""

    __tablename__ = "job_input"

    buyer_id: str = Field(primary_key=True, max_length=18)
    digest: str = Field(primary_key=True, max_length=64)
    he_params: str = Field(max_length=32)
    outputs: int
    size: int = Field(sa_type=BigInteger)
    data: bytes = Field(sa_type=LargeBinary)
    created_at: datetime = Field(sa_type=_UTC_DATETIME)


class JobOrderRow(SQLModel, table=True):
    """The buyer's signed order of a job (``contracts.orders``), sent to every node with the job's tickets."""

    __tablename__ = "job_order"

    job_id: str = Field(primary_key=True, max_length=40)
    order_json: str


class JobExchangeRow(SQLModel, table=True):
    """One factory's message to the buyer in a running job (blinded keys), and the buyer's answer once given.

    Rows live only while the run waits for the buyer: the run deletes them when it moves on.
    """

    __tablename__ = "job_exchange"

    job_id: str = Field(primary_key=True, max_length=40)
    participant_id: str = Field(primary_key=True, max_length=18)
    run_id: str = Field(max_length=40)
    request: bytes = Field(sa_type=LargeBinary)
    response: bytes | None = Field(default=None, sa_type=LargeBinary)
    created_at: datetime = Field(sa_type=_UTC_DATETIME)


class WitnessKeyRow(SQLModel, table=True):
    """A node's witness key, bound to its mutually authenticated identity on first use."""

    __tablename__ = "witness_key"

    participant_id: str = Field(primary_key=True, max_length=18)
    key: str
    first_seen: datetime = Field(sa_type=_UTC_DATETIME)


class SigningKeyRow(SQLModel, table=True):
    """A participant's Ed25519 key for signing contract terms (raw public key, base64)."""

    __tablename__ = "signing_key"

    participant_id: str = Field(primary_key=True, max_length=18)
    public_key: str = Field(max_length=64)
    registered_at: datetime = Field(sa_type=_UTC_DATETIME)


class OfferRow(SQLModel, table=True):
    __tablename__ = "offer"

    offer_id: str = Field(primary_key=True, max_length=64)
    provider: str = Field(index=True, max_length=18)
    dataset: str = Field(max_length=64)
    offer_text: str
    published_at: datetime = Field(sa_type=_UTC_DATETIME)


class CatalogEntryRow(SQLModel, table=True):
    """An offer as the catalogue ranges over and sorts it: one row per offer, written with the offer."""

    __tablename__ = "catalog_entry"

    offer_id: str = Field(primary_key=True, max_length=64)
    provider: str = Field(index=True, max_length=18)
    dataset: str = Field(index=True, max_length=64)
    price_fen: int = Field(sa_type=BigInteger, index=True)  # the price in CNY fen (hundredths), exact
    not_before: datetime = Field(sa_type=_UTC_DATETIME)
    not_after: datetime = Field(sa_type=_UTC_DATETIME, index=True)
    published_at: datetime = Field(sa_type=_UTC_DATETIME, index=True)
    rows: int | None = Field(default=None, sa_type=BigInteger, index=True)
    completeness: float | None = None
    validity: float | None = None
    last_update: datetime | None = Field(default=None, sa_type=_UTC_DATETIME)


class CatalogTermRow(SQLModel, table=True):
    """One searchable fact of an offer: a facet (tag, field, region, kind, purpose, grade) and its value."""

    __tablename__ = "catalog_term"
    __table_args__ = (Index("ix_catalog_term_facet_value", "facet", "value", "offer_id"),)

    offer_id: str = Field(primary_key=True, max_length=64)
    facet: str = Field(primary_key=True, max_length=16)
    value: str = Field(primary_key=True, max_length=64)


class DemandRow(SQLModel, table=True):
    """A buyer's stated need, which matching turns into proposed cohorts of offers."""

    __tablename__ = "demand"

    demand_id: str = Field(primary_key=True, max_length=64)
    buyer: str = Field(index=True, max_length=18)
    demand_text: str
    created_at: datetime = Field(sa_type=_UTC_DATETIME)


class OfferPreviewRow(SQLModel, table=True):
    """A few desensitized rows of an offer, as its provider's node made them and the detectors passed them."""

    __tablename__ = "offer_preview"

    offer_id: str = Field(primary_key=True, max_length=64)
    provider: str = Field(max_length=18)
    rows_text: str  # canonical JSON array of rows
    receipt_text: str  # canonical JSON of the node's receipt
    published_at: datetime = Field(sa_type=_UTC_DATETIME)


class ContractRow(SQLModel, table=True):
    __tablename__ = "usage_contract"

    contract_id: str = Field(primary_key=True, max_length=64)
    buyer: str = Field(index=True, max_length=18)
    state: str = Field(max_length=16)
    contract_text: str
    jobs_run: int = 0
    epsilon_spent: float = 0.0
    rho_spent: float = 0.0  # zero-concentrated DP, which composes by adding ρ
    updated_at: datetime = Field(sa_type=_UTC_DATETIME)
