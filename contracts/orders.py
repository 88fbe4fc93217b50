"""Job orders the buyer signs: the job id, the contract and the exact spec, under the buyer's own key.

A job whose input is the buyer's own secret (its encrypted model, its key list) must run only when the
buyer asked for it, on exactly that input. The coordinator queues jobs, so without this it could run one
in the buyer's name — with an input encrypted under its own key, say, and read the cohort's scores — or
swap the buyer's input for another. The buyer therefore signs the order (canonical JSON, its own domain
tag) with the contract-signing key it registered in the audit log; every node checks the signature
against that key, proven by the log it witnesses, and that the ticket's job id, contract and spec are
the order's. The job id is the buyer's choice, so an order names one job: a retry of that job runs the
same order again (and nodes charge a job once), but no other job can reuse it.
"""

from __future__ import annotations

import secrets
from datetime import datetime
from typing import Any, Final

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from pydantic import BaseModel, ConfigDict, Field

from contracts.canonical import SafeId, canonical
from contracts.exceptions import ContractsError, SignatureError
from contracts.jobspec import PSI_KINDS, JobKind, JobSpec
from contracts.signatures import PartySignature, PublicKeyLike, sign_payload, verify_payload

ORDER_TYPE: Final = "dataspace.job.order.v1"
# Kinds whose input is the buyer's secret: nodes run them only on the buyer's signed order.
ORDERED_KINDS: Final = frozenset({JobKind.ENCRYPTED_SCORING, *PSI_KINDS})
JOB_ID_PATTERN: Final = r"^job_[0-9a-f]{32}$"


class OrderError(ContractsError):
    default_code = "bad_order"


class JobOrder(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    buyer: SafeId
    contract_id: SafeId
    job_id: str = Field(pattern=JOB_ID_PATTERN)
    spec: dict[str, Any]
    issued_at: datetime


class SignedOrder(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    order: JobOrder
    signature: PartySignature


def new_job_id() -> str:
    return "job_" + secrets.token_hex(16)


def order_payload(order: JobOrder) -> bytes:
    return canonical({"type": ORDER_TYPE, "order": order.model_dump(mode="json")})


def sign_order(
    buyer: str, key: Ed25519PrivateKey, contract_id: str, spec: JobSpec, issued_at: datetime
) -> SignedOrder:
    """The buyer's order for one new job under ``contract_id``, with a fresh job id."""
    order = JobOrder(
        buyer=buyer,
        contract_id=contract_id,
        job_id=new_job_id(),
        spec=spec.model_dump(mode="json"),
        issued_at=issued_at,
    )
    return SignedOrder(order=order, signature=sign_payload(buyer, key, order_payload(order)))


def verify_order(
    signed: SignedOrder, *, buyer: str, key: PublicKeyLike, contract_id: str, job_id: str, spec: JobSpec
) -> None:
    """Raise ``OrderError`` unless ``signed`` is ``buyer``'s order for exactly this job, contract and spec."""
    order = signed.order
    if order.buyer != buyer or signed.signature.party != buyer:
        raise OrderError(f"the order is {order.buyer}'s, the job is {buyer}'s", code="order_buyer")
    if order.contract_id != contract_id:
        raise OrderError(f"the order is for contract {order.contract_id}", code="order_contract")
    if order.job_id != job_id:
        raise OrderError(f"the order is for job {order.job_id}, not {job_id}", code="order_job")
    try:
        ordered = JobSpec.model_validate(order.spec)
    except ValueError as exc:
        raise OrderError(f"the order's spec is malformed: {exc}", code="order_spec") from exc
    if ordered.model_dump(mode="json") != spec.model_dump(mode="json"):
        raise OrderError("the job's spec is not the one the buyer ordered", code="order_spec")
    try:
        verify_payload(signed.signature, buyer, key, order_payload(order))
    except SignatureError as exc:
        raise OrderError(f"the order's signature: {exc}", code="order_signature") from exc
