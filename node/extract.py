"""A node's part in an extract job: read the matching rows in DuckDB, desensitize them, make them k-anonymous.

The rows go to the coordinator as canonical JSON in one message, not through secure aggregation: an extract
releases records, and the coordinator scans them again before the buyer sees any. What leaves is decided by
the signed contract in the ticket, checked here as for every job, and by this node's own schema: a field it
describes as personal or free text leaves only under a rule that removes its content, whatever the terms
say. Keyed rules use a key derived from this node's secret and the contract id, so pseudonyms are stable
within one contract at this node and unrelated across contracts and across nodes.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, Final

import duckdb

from contracts.canonical import MAX_SAFE_INTEGER, canonical
from contracts.desensitize import DateShiftRule, DesensitizationError, derive_contract_key
from contracts.desensitize.keys import MIN_NODE_SECRET_BYTES
from contracts.enforcement import number_limit
from contracts.exceptions import ContractsError
from contracts.extracts.build import MAX_EXTRACT_BYTES, MAX_EXTRACT_ROWS, BuiltExtract, build_extract
from contracts.extracts.grant import ExtractGrant, check_extract_spec
from contracts.jobspec import JobSpec, validate_spec
from contracts.schema import DatasetSchema, FieldSpec, FieldType
from contracts.tickets import JobTicket
from contracts.vocabulary import ConstraintName
from node import engine
from node.budget import Limits
from node.config import DatasetConfig
from node.exceptions import ConfigError, DataError, JobRefused, LocalComputeError
from node.job_runner import NodeContext, check_job, data_refusal
from node.local_compute import (
    Params,
    _checked_files,
    _classified,
    _condition,
    _source,
    quote,
    typed_columns,
)

SECRET_FILE: Final = "desensitize.key"


@dataclass(frozen=True)
class ExtractUpload:
    """What the node sends: its rows and its receipt, each canonical JSON."""

    rows: bytes
    receipt: bytes


def node_secret(identity_dir: Path) -> bytes:
    """The node's desensitization secret, made on first use; it never leaves the identity folder.

    It is written beside the final name and linked in, so two first uses at once agree on one secret.
    """
    path = identity_dir / SECRET_FILE
    if not path.exists():
        identity_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        staging = identity_dir / f".{SECRET_FILE}.{secrets.token_hex(8)}"
        fd = os.open(staging, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            with os.fdopen(fd, "wb") as handle:
                handle.write(secrets.token_bytes(32))
                handle.flush()
                os.fsync(handle.fileno())
            with contextlib.suppress(FileExistsError):  # another first use won: its secret is the one
                os.link(staging, path)
        finally:
            staging.unlink(missing_ok=True)
    secret = path.read_bytes()
    if len(secret) < MIN_NODE_SECRET_BYTES:
        raise JobRefused("node_secret", f"the desensitization secret in {path.name} is too short")
    return secret


def hardened(grant: ExtractGrant, schema: DatasetSchema) -> ExtractGrant:
    """The grant, with every field this node's schema calls personal or free text needing removal."""
    own = {f.name for f in schema.fields if f.personal or f.type is FieldType.TEXT}
    needed = tuple(dict.fromkeys([*grant.needs_removal, *(own & set(grant.terms.released()))]))
    return grant.model_copy(update={"needs_removal": needed})


def fields_to_read(grant: ExtractGrant, columns: Sequence[str]) -> list[str]:
    """The requested columns and the entity field of each date shift among them."""
    rules = grant.terms.rules.fields
    shifts = [rule for rule in (rules[c] for c in columns) if isinstance(rule, DateShiftRule)]
    return list(dict.fromkeys([*columns, *(rule.entity_field for rule in shifts)]))


def read_rows(
    dataset: DatasetConfig, spec: JobSpec, names: Sequence[str], limit: int
) -> list[dict[str, object]]:
    """The fields ``names`` of the rows matching ``spec``'s filters, JSON-safe, at most ``limit + 1`` of them.

    Cells are typed as the schema says; one that does not parse, a non-finite or unsafe number, a
    fractional integer and a category outside the declared ones read as missing (None).
    """
    schema = dataset.schema
    files = _checked_files(dataset.paths)
    params = Params()
    fields = [schema.field(name) for name in dict.fromkeys([*names, *(f.field for f in spec.filters)])]
    typed = typed_columns(fields)
    conditions = [_condition(item, schema.field(item.field), params) for item in spec.filters]
    sql = (
        f"WITH typed AS (SELECT {typed} FROM {_source(dataset.format, files, schema, params)})\n"
        f"SELECT {', '.join(quote(n) for n in names)} FROM typed "
        f"WHERE {' AND '.join(conditions) or 'TRUE'} LIMIT {int(limit) + 1}"
    )
    try:
        with engine.shared().cursor() as con:
            found = con.execute(sql, params.values).fetchall()
    except duckdb.Error as exc:
        raise _classified(exc, spec, files) from exc
    specs = [schema.field(name) for name in names]
    return [{f.name: _json_value(f, value) for f, value in zip(specs, row, strict=True)} for row in found]


def _json_value(field: FieldSpec, value: Any) -> object:
    if value is None:
        return None
    if field.type.is_numeric:
        number = float(value)
        if not (abs(number) <= MAX_SAFE_INTEGER):  # also refuses NaN
            return None
        if field.type is FieldType.INTEGER:
            return int(number) if number.is_integer() else None
        return number
    if field.type is FieldType.TIMESTAMP:
        return value.isoformat() if isinstance(value, datetime) else None
    text = str(value)
    if field.type is FieldType.CATEGORY and text not in (field.categories or ()):
        return None
    return text


async def run_extract(ctx: NodeContext, ticket: JobTicket) -> ExtractUpload:
    """Check the job as for every kind, then build this node's extract and journal what is sent."""
    spec, contract = check_job(ctx, ticket)
    try:
        dataset = ctx.config.dataset(spec.dataset)
    except ConfigError as exc:
        raise JobRefused("unknown_dataset", f"this node has no dataset {spec.dataset!r}") from exc
    try:
        validate_spec(spec, dataset.schema)
        check_extract_spec(spec, contract.terms.extract)
    except ContractsError as exc:
        raise JobRefused(exc.code, str(exc)) from exc
    assert contract.terms.extract is not None  # check_extract_spec refuses a contract without a grant
    grant = hardened(contract.terms.extract, dataset.schema)
    try:
        await asyncio.to_thread(ctx.data.verify, dataset)
    except DataError as exc:
        raise data_refusal(dataset, exc) from exc
    # No epsilon is spent, but the extract counts against the contract's jobs in this node's own ledger.
    jobs = number_limit(contract, ConstraintName.QUERY_COUNT)
    limits = Limits(max_jobs=jobs, epsilon_budget=None, delta=contract.terms.privacy.delta)
    ctx.ledger.charge(contract.contract_id, ticket.job_id, 0.0, limits)
    built, salt = await asyncio.to_thread(_build, ctx, dataset, spec, grant, contract.contract_id)
    upload = ExtractUpload(built.rows_json, canonical(built.receipt.model_dump(mode="json")))
    receipt = built.receipt
    ctx.journal.record(
        ctx.clock(), "extract_sent", job_id=ticket.job_id, run_id=ticket.run_id, buyer=ticket.buyer,
        contract_id=contract.contract_id, columns=list(spec.columns),
        filters=[item.model_dump(mode="json") for item in spec.filters],
        receipt=receipt.model_dump(mode="json"), input_salt=salt.hex(), bytes=len(upload.rows),
    )  # fmt: skip
    return upload


def _build(
    ctx: NodeContext, dataset: DatasetConfig, spec: JobSpec, grant: ExtractGrant, contract_id: str
) -> tuple[BuiltExtract, bytes]:
    try:
        rows = read_rows(dataset, spec, fields_to_read(grant, spec.columns), MAX_EXTRACT_ROWS)
    except LocalComputeError as exc:
        ctx.data.forget(dataset.paths)
        raise data_refusal(dataset, exc) from exc
    if len(rows) > MAX_EXTRACT_ROWS:
        raise JobRefused(
            "extract_too_large", f"more than {MAX_EXTRACT_ROWS} rows match; an extract must be narrower"
        )
    key = derive_contract_key(node_secret(ctx.secrets_dir), contract_id)
    salt = ctx.rng.getrandbits(128).to_bytes(16, "big")
    try:
        built = build_extract(rows, grant, spec.columns, key, salt=salt)
    except DesensitizationError as exc:  # names the field and row, never the value
        raise JobRefused(exc.code, f"dataset {dataset.name!r}: {exc.message}") from exc
    if len(built.rows_json) > MAX_EXTRACT_BYTES:
        raise JobRefused("extract_too_large", f"the extract exceeds {MAX_EXTRACT_BYTES} bytes")
    return built, salt
