"""A node runs a buyer-private job only on the buyer's own order, its key proven by the witnessed log."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from types import SimpleNamespace
from typing import Any, cast

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from contracts.jobspec import JobSpec
from contracts.orders import OrderError, sign_order, verify_order
from contracts.peer_keys import PeerKey
from contracts.tickets import JobTicket
from node.exceptions import JobRefused
from node.job_runner import check_order

BUYER = "91110000MA01GATE0X"
NOW = datetime(2026, 11, 30, tzinfo=UTC)
SPEC = JobSpec.model_validate({"kind": "psi_cardinality", "dataset": "s", "key_field": "code",
                               "normalization": "exact"})  # fmt: skip


def _ticket(order: dict[str, Any] | None, peer_keys: dict[str, PeerKey] | None = None) -> JobTicket:
    return JobTicket(job_id="job_" + "1" * 32, run_id="run_1", buyer=BUYER, spec=SPEC.model_dump(mode="json"),
                     participants=("A", "B", "C"), order=order, peer_keys=peer_keys or {}, nonce="n",
                     issued_at=NOW, expires_at=NOW + timedelta(minutes=5))  # fmt: skip


def _check(ticket: JobTicket) -> str:
    ctx = cast(Any, SimpleNamespace(witness=SimpleNamespace(roots={})))
    contract = cast(Any, SimpleNamespace(contract_id="C1"))
    with pytest.raises(JobRefused) as refused:
        check_order(ctx, ticket, SPEC, contract)
    return refused.value.code


def test_no_order_and_an_unproven_buyer_key_are_refused() -> None:
    assert _check(_ticket(None)) == "order_required"
    signed = sign_order(BUYER, Ed25519PrivateKey.generate(), "C1", SPEC, NOW).model_dump(mode="json")
    assert _check(_ticket(signed)) == "unproven_buyer_key"  # no proof came with the ticket
    made_up = PeerKey(public_key="AA==", entry="AA==", index=0, tree_size=1, proof=())
    assert _check(_ticket(signed, {BUYER: made_up})) == "unproven_buyer_key"  # not in the witnessed log


@pytest.mark.parametrize(
    ("changes", "code"),
    [
        ({"contract_id": "C2"}, "order_contract"),
        ({"job_id": "job_" + "2" * 32}, "order_job"),
        ({"buyer": "91110000MA01XTRA0X"}, "order_buyer"),
        ({"spec": SPEC.model_copy(update={"normalization": "text"})}, "order_spec"),
    ],
)
def test_an_order_holds_only_for_its_job_contract_buyer_and_spec(changes: dict[str, Any], code: str) -> None:
    key = Ed25519PrivateKey.generate()
    signed = sign_order(BUYER, key, "C1", SPEC, NOW)
    expected = {"buyer": BUYER, "contract_id": "C1", "job_id": signed.order.job_id, "spec": SPEC} | changes
    with pytest.raises(OrderError) as refused:
        verify_order(signed, key=key.public_key(), **expected)
    assert refused.value.code == code
    verify_order(
        signed, buyer=BUYER, key=key.public_key(), contract_id="C1", job_id=signed.order.job_id, spec=SPEC
    )
