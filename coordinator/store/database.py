"""The coordinator's persistent state behind one interface, on SQLite (default) or PostgreSQL.

All methods are short transactions; the job queue is claimed with ``FOR UPDATE SKIP LOCKED`` where
the database supports it so several coordinator replicas can share one PostgreSQL. A job is admitted
under a contract while that contract's usage row is locked, so concurrent submissions cannot overrun it.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Engine, delete, event, func, or_, update
from sqlmodel import Session, SQLModel, col, create_engine, select

from coordinator.exceptions import ConflictError, GoneError, NotFoundError
from coordinator.store.tables import (
    ApiToken,
    CatalogEntryRow,
    CatalogTermRow,
    ContractRow,
    DemandRow,
    EnrollmentTokenRow,
    Job,
    JobExchangeRow,
    JobInputRow,
    JobOrderRow,
    JobState,
    NodeDataset,
    OfferPreviewRow,
    OfferRow,
    Participant,
    SigningKeyRow,
    WitnessKeyRow,
)

# Execution option of a transaction that must hold SQLite's write lock from its first statement on.
_SQLITE_BEGIN_IMMEDIATE = "dataspace_sqlite_begin_immediate"


# A condition on an offer's catalogue terms: (facet, "=" or "like", value).
TermCondition = tuple[str, str, str]
CATALOG_SORTS = {
    "published": CatalogEntryRow.published_at,
    "price": CatalogEntryRow.price_fen,
    "rows": CatalogEntryRow.rows,
    "completeness": CatalogEntryRow.completeness,
    "valid_until": CatalogEntryRow.not_after,
}


@dataclass(frozen=True)
class CatalogFilter:
    """What a catalogue search asks of the database. Each group of ``terms`` needs one of its conditions."""

    terms: tuple[tuple[TermCondition, ...], ...] = ()
    provider: str | None = None
    dataset: str | None = None
    valid_at: datetime | None = None
    updated_since: datetime | None = None
    min_rows: int | None = None
    min_completeness: float | None = None
    max_price_fen: int | None = None
    sort: str = "published"
    descending: bool = True
    limit: int = 20
    offset: int = 0


@dataclass(frozen=True)
class Charge:
    """What admitting one job costs its contract besides the job itself: privacy budget, as ε and as ρ."""

    epsilon: float = 0.0
    rho: float = 0.0

    def __post_init__(self) -> None:
        for name, amount in (("epsilon", self.epsilon), ("rho", self.rho)):
            if not (math.isfinite(amount) and amount >= 0):
                raise ValueError(f"a charge must be finite and not negative, not {name}={amount}")


def make_engine(database_url: str | None, data_dir: Path) -> Engine:
    """PostgreSQL when a URL is given, else an embedded SQLite file (WAL) in the data directory."""
    if database_url:
        return create_engine(database_url, pool_pre_ping=True)
    data_dir.mkdir(parents=True, exist_ok=True)
    engine = create_engine(
        f"sqlite:///{data_dir / 'coordinator.db'}", connect_args={"check_same_thread": False, "timeout": 30}
    )

    @event.listens_for(engine, "connect")
    def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _sqlite_begin_immediate(conn: Connection) -> None:
        # pysqlite's legacy transaction control begins a transaction only before the first INSERT, UPDATE
        # or DELETE, so a read-decide-write would read outside it. Where asked, BEGIN IMMEDIATE takes the
        # write lock before the read (waiting up to the busy timeout); pysqlite sees the open transaction
        # and commits or rolls it back. Every other transaction keeps pysqlite's default (readers never
        # wait, and an explicit BEGIN such as the audit verifier's snapshot still works).
        if conn.get_execution_options().get(_SQLITE_BEGIN_IMMEDIATE):
            conn.exec_driver_sql("BEGIN IMMEDIATE")

    return engine


class Store:
    """Typed access to the coordinator tables."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        SQLModel.metadata.create_all(engine)

    # -- enrollment ---------------------------------------------------------------------------
    def add_enrollment_token(self, row: EnrollmentTokenRow) -> None:
        with Session(self.engine) as session:
            session.add(row)
            session.commit()

    def enrollment_token(self, token_id: str) -> EnrollmentTokenRow | None:
        with Session(self.engine) as session:
            return session.get(EnrollmentTokenRow, token_id)

    def redeem_enrollment_token(self, token_id: str, secret_hash: str, now: datetime) -> EnrollmentTokenRow:
        """Mark a token used, exactly once; raise if unknown, expired or already used."""
        with Session(self.engine) as session:
            row = session.get(EnrollmentTokenRow, token_id)
            if row is None or row.secret_hash != secret_hash:
                raise NotFoundError("unknown enrollment token", code="unknown_token")
            if row.used_at is not None:
                raise ConflictError(
                    "enrollment token was already used", code="token_used", details={"token_id": token_id}
                )
            if _aware(row.expires_at) <= now:
                raise GoneError("enrollment token has expired", code="token_expired")
            result = session.execute(
                update(EnrollmentTokenRow)
                .where(col(EnrollmentTokenRow.token_id) == token_id)
                .where(col(EnrollmentTokenRow.used_at).is_(None))
                .values(used_at=now)
            )
            if result.rowcount != 1:  # type: ignore[attr-defined]
                session.rollback()
                raise ConflictError("enrollment token was already used", code="token_used")
            session.commit()
            session.refresh(row)
            return row

    def upsert_participant(self, participant: Participant) -> None:
        with Session(self.engine) as session:
            session.merge(participant)
            session.commit()

    def revoke_certificate(self, participant_id: str) -> str | None:
        """Forget the participant's current certificate; return its serial (None if it had none)."""
        with Session(self.engine) as session:
            participant = session.get(Participant, participant_id)
            if participant is None:
                raise NotFoundError(f"no participant {participant_id}", code="participant_not_found")
            serial = participant.certificate_serial
            participant.certificate_serial = None
            session.add(participant)
            session.commit()
            return serial

    def participant(self, participant_id: str) -> Participant | None:
        with Session(self.engine) as session:
            return session.get(Participant, participant_id)

    def add_api_token(self, token: ApiToken) -> None:
        with Session(self.engine) as session:
            session.add(token)
            session.commit()

    def api_token(self, token_hash: str) -> ApiToken | None:
        with Session(self.engine) as session:
            token = session.get(ApiToken, token_hash)
            return token if token is not None and token.revoked_at is None else None

    # -- signing keys, offers, contracts -------------------------------------------------------
    def set_signing_key(self, participant_id: str, public_key_b64: str, now: datetime) -> None:
        with Session(self.engine) as session:
            session.merge(
                SigningKeyRow(participant_id=participant_id, public_key=public_key_b64, registered_at=now)
            )
            session.commit()

    def signing_keys(self, participant_ids: list[str]) -> dict[str, str]:
        with Session(self.engine) as session:
            rows = session.exec(
                select(SigningKeyRow).where(col(SigningKeyRow.participant_id).in_(participant_ids))
            )
            return {row.participant_id: row.public_key for row in rows}

    def add_offer(
        self, row: OfferRow, entry: CatalogEntryRow | None = None, terms: Sequence[CatalogTermRow] = ()
    ) -> None:
        """The offer and its catalogue rows, in one transaction: the catalogue never lists half an offer."""
        with Session(self.engine) as session:
            session.add(row)
            if entry is not None:
                session.add(entry)
                session.add_all(terms)
            session.commit()

    def catalog_version(self) -> tuple[int, datetime | None]:
        """Changes whenever an offer enters the catalogue: how many there are, and the newest's time."""
        with Session(self.engine) as session:
            count, newest = session.exec(
                select(func.count(), func.max(CatalogEntryRow.published_at)).select_from(CatalogEntryRow)
            ).one()
            return int(count), newest

    def offers_not_in_catalog(self) -> list[OfferRow]:
        """Offers stored before the catalogue existed (or without it), to be indexed at start."""
        with Session(self.engine) as session:
            indexed = select(CatalogEntryRow.offer_id)
            return list(session.exec(select(OfferRow).where(col(OfferRow.offer_id).not_in(indexed))))

    def add_to_catalog(self, entry: CatalogEntryRow, terms: Sequence[CatalogTermRow]) -> None:
        with Session(self.engine) as session:
            session.add(entry)
            session.add_all(terms)
            session.commit()

    def search_catalog(self, wanted: CatalogFilter) -> tuple[int, list[OfferRow]]:
        """How many offers match, and one page of them in the asked order (ties by offer id)."""
        entry = CatalogEntryRow
        conditions: list[Any] = []
        for group in wanted.terms:
            alternatives = [
                (col(CatalogTermRow.facet) == facet)
                & (
                    col(CatalogTermRow.value).like(value)
                    if op == "like"
                    else col(CatalogTermRow.value) == value
                )
                for facet, op, value in group
            ]
            having = select(CatalogTermRow.offer_id).where(or_(*alternatives))
            conditions.append(col(entry.offer_id).in_(having))
        if wanted.provider is not None:
            conditions.append(col(entry.provider) == wanted.provider)
        if wanted.dataset is not None:
            conditions.append(col(entry.dataset) == wanted.dataset)
        if wanted.valid_at is not None:
            conditions += [col(entry.not_before) <= wanted.valid_at, col(entry.not_after) >= wanted.valid_at]
        if wanted.updated_since is not None:
            conditions.append(col(entry.last_update) >= wanted.updated_since)
        if wanted.min_rows is not None:
            conditions.append(col(entry.rows) >= wanted.min_rows)
        if wanted.min_completeness is not None:
            conditions.append(col(entry.completeness) >= wanted.min_completeness)
        if wanted.max_price_fen is not None:
            conditions.append(col(entry.price_fen) <= wanted.max_price_fen)
        key = col(CATALOG_SORTS[wanted.sort])
        order = (key.desc().nulls_last(), col(entry.offer_id)) if wanted.descending else (
            key.asc().nulls_last(), col(entry.offer_id))  # fmt: skip
        with Session(self.engine) as session:
            total = session.exec(select(func.count()).select_from(entry).where(*conditions)).one()
            # The page is chosen on the narrow index table alone; only its offers' texts are read after,
            # instead of sorting every match together with its offer text (measured 21 ms → 10 ms at 10k).
            page = select(entry.offer_id).where(*conditions).order_by(*order)
            ids = list(session.exec(page.limit(wanted.limit).offset(wanted.offset)))
            found = session.exec(select(OfferRow).where(col(OfferRow.offer_id).in_(ids)))
            by_id = {row.offer_id: row for row in found}
            return int(total), [by_id[offer_id] for offer_id in ids if offer_id in by_id]

    def offers(self, offer_ids: list[str] | None = None, provider: str | None = None) -> list[OfferRow]:
        with Session(self.engine) as session:
            query = select(OfferRow).order_by(col(OfferRow.published_at))
            if offer_ids is not None:
                query = query.where(col(OfferRow.offer_id).in_(offer_ids))
            if provider is not None:
                query = query.where(col(OfferRow.provider) == provider)
            return list(session.exec(query))

    # -- demands ------------------------------------------------------------------------------
    def add_demand(self, row: DemandRow) -> None:
        with Session(self.engine) as session:
            session.add(row)
            session.commit()
            session.refresh(row)  # the caller reads it after the session closes

    def demand(self, demand_id: str) -> DemandRow:
        with Session(self.engine) as session:
            row = session.get(DemandRow, demand_id)
            if row is None:
                raise NotFoundError(f"no demand {demand_id}", code="demand_not_found")
            return row

    def demands(self, buyer: str | None = None, limit: int = 1000) -> list[DemandRow]:
        """The newest demands first, of ``buyer`` or of everyone."""
        with Session(self.engine) as session:
            query = select(DemandRow).order_by(col(DemandRow.created_at).desc()).limit(limit)
            if buyer is not None:
                query = query.where(col(DemandRow.buyer) == buyer)
            return list(session.exec(query))

    def add_offer_preview(self, row: OfferPreviewRow) -> None:
        with Session(self.engine) as session:
            session.merge(row)
            session.commit()

    def offer_previews(self) -> dict[str, OfferPreviewRow]:
        """Every stored preview, by offer id."""
        with Session(self.engine) as session:
            return {row.offer_id: row for row in session.exec(select(OfferPreviewRow))}

    def save_contract(self, contract_id: str, buyer: str, state: str, text: str, now: datetime) -> None:
        with Session(self.engine) as session:
            row = session.get(ContractRow, contract_id)
            if row is None:
                row = ContractRow(
                    contract_id=contract_id, buyer=buyer, state=state, contract_text=text, updated_at=now
                )
            else:
                row.state, row.contract_text, row.updated_at = state, text, now
            session.add(row)
            session.commit()

    def admit_job(
        self, job: Job, decide: Callable[[ContractRow], Charge], with_rows: Sequence[SQLModel] = ()
    ) -> Job:
        """Queue a job under its contract if ``decide`` allows it, in one transaction on the locked usage row.

        ``decide`` sees the contract row as it stands while no other admission can change it; it raises
        to refuse (nothing is written) or returns what the job costs, which is added to the counters
        together with one job. It runs under the lock, so it must be quick and must not use the database.
        ``with_rows`` (e.g. the buyer's signed order) are written in the same transaction as the job.
        """
        if job.contract_id is None:
            raise ValueError(f"job {job.job_id} names no contract to be admitted under")
        with Session(self.engine) as session:
            session.connection(execution_options={_SQLITE_BEGIN_IMMEDIATE: True})
            row = session.get(ContractRow, job.contract_id, with_for_update=True)
            if row is None:
                raise NotFoundError(f"no contract {job.contract_id}", code="contract_not_found")
            charge = decide(row)
            row.jobs_run += 1
            row.epsilon_spent += charge.epsilon
            row.rho_spent += charge.rho
            session.add(row)
            session.add(job)
            session.add_all(with_rows)
            session.commit()
            session.refresh(job)
            return job

    def cancel_queued_jobs(self, contract_id: str, reason: str, now: datetime) -> list[str]:
        with Session(self.engine) as session:
            jobs = list(
                session.exec(select(Job).where(Job.contract_id == contract_id, Job.state == JobState.QUEUED))
            )
            for job in jobs:
                job.state, job.reason, job.updated_at = JobState.CANCELLED, reason, now
                session.add(job)
            session.commit()
            return [job.job_id for job in jobs]

    def contract(self, contract_id: str) -> ContractRow:
        with Session(self.engine) as session:
            row = session.get(ContractRow, contract_id)
            if row is None:
                raise NotFoundError(f"no contract {contract_id}", code="contract_not_found")
            return row

    def contracts(self) -> list[ContractRow]:
        with Session(self.engine) as session:
            return list(session.exec(select(ContractRow).order_by(col(ContractRow.updated_at))))

    # -- witnesses ----------------------------------------------------------------------------
    def witness_key(self, participant_id: str) -> WitnessKeyRow | None:
        with Session(self.engine) as session:
            return session.get(WitnessKeyRow, participant_id)

    def set_witness_key(self, participant_id: str, key: str, now: datetime) -> None:
        with Session(self.engine) as session:
            row = session.get(WitnessKeyRow, participant_id)
            if row is None:
                session.add(WitnessKeyRow(participant_id=participant_id, key=key, first_seen=now))
            else:
                row.key = key
                session.add(row)
            session.commit()

    def witness_keys(self) -> list[WitnessKeyRow]:
        with Session(self.engine) as session:
            return list(session.exec(select(WitnessKeyRow)))

    # -- node datasets ------------------------------------------------------------------------
    def set_node_datasets(self, participant_id: str, datasets: dict[str, str], now: datetime) -> None:
        with Session(self.engine) as session:
            for old in session.exec(select(NodeDataset).where(NodeDataset.participant_id == participant_id)):
                if old.dataset not in datasets:
                    session.delete(old)
            for name, schema_text in datasets.items():
                session.merge(
                    NodeDataset(
                        participant_id=participant_id, dataset=name, schema_text=schema_text, updated_at=now
                    )
                )
            session.commit()

    def node_datasets(self, dataset: str | None = None) -> list[NodeDataset]:
        with Session(self.engine) as session:
            query = select(NodeDataset)
            if dataset is not None:
                query = query.where(NodeDataset.dataset == dataset)
            return list(session.exec(query.order_by(col(NodeDataset.participant_id))))

    # -- jobs ---------------------------------------------------------------------------------
    def add_job(self, job: Job) -> Job:
        with Session(self.engine) as session:
            session.add(job)
            session.commit()
            session.refresh(job)
            return job

    def add_job_input(self, row: JobInputRow) -> None:
        """Store an input once; the same bytes uploaded again by the same buyer change nothing."""
        with Session(self.engine, expire_on_commit=False) as session:
            if session.get(JobInputRow, (row.buyer_id, row.digest)) is None:
                session.add(row)
                session.commit()

    def job_input(self, buyer_id: str, digest: str) -> JobInputRow | None:
        with Session(self.engine) as session:
            return session.get(JobInputRow, (buyer_id, digest))

    def job_order(self, job_id: str) -> JobOrderRow | None:
        with Session(self.engine) as session:
            return session.get(JobOrderRow, job_id)

    def open_exchange(self, rows: Sequence[JobExchangeRow]) -> None:
        """The factories' messages of one run, replacing any left by an earlier run of the same job."""
        with Session(self.engine) as session:
            for job_id in {row.job_id for row in rows}:
                session.execute(delete(JobExchangeRow).where(col(JobExchangeRow.job_id) == job_id))
            session.add_all(rows)
            session.commit()

    def exchange(self, job_id: str) -> list[JobExchangeRow]:
        with Session(self.engine) as session:
            query = select(JobExchangeRow).where(JobExchangeRow.job_id == job_id)
            return list(session.exec(query.order_by(col(JobExchangeRow.participant_id))))

    def answer_exchange(self, job_id: str, responses: Mapping[str, bytes]) -> int:
        """Store the buyer's answers to pending messages; answers to anything else are ignored."""
        with Session(self.engine) as session:
            rows = session.exec(
                select(JobExchangeRow).where(
                    JobExchangeRow.job_id == job_id,
                    col(JobExchangeRow.participant_id).in_(list(responses)),
                    col(JobExchangeRow.response).is_(None),
                )
            ).all()
            for row in rows:
                row.response = responses[row.participant_id]
                session.add(row)
            session.commit()
            return len(rows)

    def close_exchange(self, job_id: str) -> None:
        with Session(self.engine) as session:
            session.execute(delete(JobExchangeRow).where(col(JobExchangeRow.job_id) == job_id))
            session.commit()

    def job_exists(self, job_id: str) -> bool:
        with Session(self.engine) as session:
            return session.get(Job, job_id) is not None

    def job(self, job_id: str) -> Job:
        with Session(self.engine) as session:
            job = session.get(Job, job_id)
            if job is None:
                raise NotFoundError(f"no job {job_id}", code="job_not_found")
            return job

    def jobs(self, *, buyer_id: str | None = None, limit: int = 100) -> Sequence[Job]:
        with Session(self.engine) as session:
            query = select(Job).order_by(col(Job.created_at).desc()).limit(limit)
            if buyer_id is not None:
                query = query.where(Job.buyer_id == buyer_id)
            return list(session.exec(query))

    def claim_next_job(self, owner: str, now: datetime) -> Job | None:
        """Move the oldest QUEUED job to RUNNING for this owner; None when the queue is empty."""
        with Session(self.engine) as session:
            query = (
                select(Job)
                .where(Job.state == JobState.QUEUED)
                .order_by(col(Job.created_at))
                .limit(1)
                .with_for_update(skip_locked=True)
            )
            job = session.exec(query).first()
            if job is None:
                return None
            job.state = JobState.RUNNING
            job.claimed_by = owner
            job.attempts += 1
            job.updated_at = now
            session.add(job)
            session.commit()
            session.refresh(job)
            return job

    def finish_job(
        self,
        job_id: str,
        state: JobState,
        now: datetime,
        *,
        reason: str | None = None,
        result_json: str | None = None,
        contributors: int | None = None,
    ) -> None:
        with Session(self.engine) as session:
            job = session.get(Job, job_id)
            if job is None:
                raise NotFoundError(f"no job {job_id}", code="job_not_found")
            job.state, job.reason, job.updated_at = state, reason, now
            job.result_json, job.contributors = result_json, contributors
            session.add(job)
            session.commit()

    def requeue_interrupted(self, owner: str, now: datetime) -> int:
        """After a restart, put back the jobs this coordinator was running; return how many."""
        with Session(self.engine) as session:
            result = session.execute(
                update(Job)
                .where(col(Job.state) == JobState.RUNNING)
                .where(col(Job.claimed_by) == owner)
                .values(state=JobState.QUEUED, reason="coordinator restarted during the run", updated_at=now)
            )
            session.commit()
            return int(result.rowcount)  # type: ignore[attr-defined]


def _aware(moment: datetime) -> datetime:
    """SQLite returns naive datetimes; everything we store is UTC."""
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)
