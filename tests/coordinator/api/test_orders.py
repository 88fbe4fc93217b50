"""Jobs on the buyer's signed order: what the gateway admits, refuses and audits."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from contracts.jobspec import JobSpec
from contracts.orders import sign_order

from .conftest import BUYER, Gateway

MEAN = {"kind": "mean", "dataset": "plant", "field": "temp"}
SCORING = {"kind": "encrypted_scoring", "dataset": "plant", "features": ["temp"], "degree": 1,
           "outputs": ["score"], "he_params": "ckks-8192", "input_digest": "a" * 64}  # fmt: skip


def _order(gateway: Gateway, spec: dict[str, Any], key: Ed25519PrivateKey | None = None) -> dict[str, Any]:
    signed = sign_order(BUYER, key or gateway.buyer_key, gateway.contract_id, JobSpec.model_validate(spec),
                        datetime.now(UTC))  # fmt: skip
    return signed.model_dump(mode="json")


def _submit(gateway: Gateway, spec: dict[str, Any], order: dict[str, Any] | None) -> Any:
    body = {**spec, "contract_id": gateway.contract_id, **({"order": order} if order else {})}
    return gateway.call("buyer", "POST", "/api/v1/jobs", json=body)


def test_a_signed_order_names_the_job_and_runs_once(gateway: Gateway) -> None:
    order = _order(gateway, MEAN)
    admitted = _submit(gateway, MEAN, order)
    assert admitted.status_code == 202 and admitted.json()["id"] == order["order"]["job_id"]
    again = _submit(gateway, MEAN, order)
    assert (again.status_code, again.json()["error"]["code"]) == (409, "order_reused")


def test_a_buyer_private_kind_needs_an_order(gateway: Gateway) -> None:
    refused = _submit(gateway, SCORING, None)
    assert refused.json()["error"]["code"] == "order_required" and refused.status_code in (400, 422)
    assert any(e["payload"].get("code") == "order_required" for e in gateway.entries("job.refused"))


def test_an_order_for_another_spec_or_by_another_key_is_refused(gateway: Gateway) -> None:
    """The coordinator (or anyone) cannot swap the buyer's input, or order in the buyer's name."""
    swapped = _submit(gateway, {**SCORING, "input_digest": "b" * 64}, _order(gateway, SCORING))
    assert (swapped.status_code, swapped.json()["error"]["code"]) == (403, "order_spec")
    forged = _submit(gateway, MEAN, _order(gateway, MEAN, Ed25519PrivateKey.generate()))
    assert (forged.status_code, forged.json()["error"]["code"]) == (403, "order_signature")
    assert not gateway.context.store.jobs(buyer_id=BUYER)  # nothing was queued
