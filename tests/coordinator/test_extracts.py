"""The coordinator's side of record-level releases, in process: release check, previews, submission.

The release check runs on what nodes send, previews are published with offers and shown in the catalogue,
and extract jobs are admitted or refused at the gateway.

Nodes are played in process here: their extracts are built with the same pure builder a node runs, then
tampered with as a faulty or hostile node would.
"""

from __future__ import annotations

import base64
import json
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from sqlalchemy import Engine

from contracts.agreement import Contract
from contracts.canonical import canonical
from contracts.desensitize import derive_contract_key, rules_digest
from contracts.extracts.build import build_extract, preview_scope, seal, sha256_hex
from contracts.extracts.exceptions import ReleaseBlocked
from contracts.extracts.grant import extract_grant
from contracts.extracts.release import NodeUpload
from contracts.identity import make_participant_id
from contracts.negotiation import Event as Move
from contracts.signing import sign_terms
from coordinator.audit.trail import Event
from coordinator.context import utc_now
from coordinator.services import contracting, extracts
from tests.contracts.test_extracts import EXTRACT, PHONE, RELEASABLE, TODAY, extract_offer, row
from tests.contracts.test_offers import PROVIDERS, draft, finalize

from .api.conftest import Gateway, _enroll_buyer, open_gateway

SECRET = bytes(range(32))
EXTRACT_BUYER = make_participant_id("91110000MA01EXTR0")
COLUMNS = ("line", "shift", "throughput", "temp", "operator_name")


def node_upload(contract_id: str, node: int, columns: tuple[str, ...] = COLUMNS) -> tuple[NodeUpload, Any]:
    offer = extract_offer(node)
    grant = extract_grant([offer])
    assert grant is not None
    key = derive_contract_key(SECRET + bytes([node]), contract_id)
    built = build_extract([row(i + 11 * node) for i in range(45)], grant, columns, key, salt=bytes(16))
    return NodeUpload(built.rows_json, canonical(built.receipt.model_dump(mode="json"))), built


def test_the_release_check_merges_clean_extracts_and_writes_a_receipt() -> None:
    contract = finalize(draft([extract_offer(i) for i in range(3)]))
    uploads = {PROVIDERS[n]: node_upload(contract.contract_id, n)[0] for n in range(3)}
    released = extracts.release_extract(contract, COLUMNS, uploads, today=TODAY)
    result = extracts.extract_result(released, contract, COLUMNS)
    assert result["row_count"] == len(result["rows"]) > 0 and result["k"] >= EXTRACT["k"]
    assert result["quasi_identifiers"] == ["line", "shift", "throughput"] and result["contributors"] == 3
    receipt = extracts.extract_receipt(released, contract, COLUMNS)
    assert receipt["rows"] == result["row_count"] and receipt["contract"] == contract.contract_id
    assert receipt["rules_digest"] == rules_digest(contract.terms.extract.terms.rules)  # type: ignore[union-attr]
    assert receipt["operators"] == {
        "line": "keep", "shift": "keep", "throughput": "keep", "temp": "bucket", "operator_name": "pseudonym"
    }  # fmt: skip
    generalized = [part["generalized"] for part in receipt["nodes"]]
    assert all(set(g) <= {"line", "shift", "throughput"} for g in generalized)
    assert [part["participant"] for part in receipt["nodes"]] == list(PROVIDERS)
    assert sum(part["rows"] for part in receipt["nodes"]) == receipt["rows"]
    assert receipt["output_digest"] == sha256_hex(canonical(result["rows"]))
    canonical(receipt)  # audit entries are canonical JSON


def test_a_raw_phone_number_a_node_planted_blocks_the_release_without_showing_it() -> None:
    contract = finalize(draft([extract_offer(i) for i in range(3)]))
    uploads = {PROVIDERS[n]: node_upload(contract.contract_id, n)[0] for n in range(3)}
    _, built = node_upload(contract.contract_id, 2)
    rows = [dict(r) for r in built.rows]
    rows[3]["shift"] = PHONE  # a node that "forgot" a rule, with a receipt that matches what it sent
    tampered = seal(rows, built.receipt)
    uploads[PROVIDERS[2]] = NodeUpload(
        tampered.rows_json, canonical(tampered.receipt.model_dump(mode="json"))
    )
    with pytest.raises(ReleaseBlocked) as caught:
        extracts.release_extract(contract, COLUMNS, uploads, today=TODAY)
    details = caught.value.details
    assert caught.value.code == "personal_data_detected"
    assert (details["node"], details["field"], details["kind"]) == (PROVIDERS[2], "shift", "mobile")
    assert PHONE not in caught.value.message and PHONE not in json.dumps(details)


def test_a_contract_without_a_grant_releases_nothing() -> None:
    contract = finalize(draft())
    with pytest.raises(ReleaseBlocked) as caught:
        extracts.release_extract(contract, COLUMNS, {}, today=TODAY)
    assert caught.value.code == "extract_not_granted"


# --------------------------------------------------------------------------------------------- previews


def preview_json(offer_id: str, leak: bool = False) -> str:
    offer = extract_offer(0, offer_id=offer_id)
    grant = extract_grant([offer])
    assert grant is not None
    key = derive_contract_key(SECRET, preview_scope(offer_id))
    built = build_extract([row(i) for i in range(40)], grant, RELEASABLE, key, salt=bytes(16))
    shown = [dict(r) for r in built.rows[:5]]
    if leak:
        shown[0]["temp"] = f"call {PHONE}"
    receipt = built.receipt.model_copy(update={"rows": 5, "output_digest": sha256_hex(canonical(shown))})
    return canonical({"rows": shown, "receipt": receipt.model_dump(mode="json")}).decode()


def publish(gateway: Gateway, offer_id: str, leak: bool = False) -> Any:
    now = utc_now()
    offer = extract_offer(
        0, offer_id=offer_id, not_before=now - timedelta(days=1), not_after=now + timedelta(days=9)
    )
    return contracting.publish_offer(
        gateway.context, PROVIDERS[0], offer.model_dump_json(), preview_json(offer_id, leak)
    )


@pytest.fixture
def gateway(engine: Engine, tmp_path: Path) -> Gateway:
    return open_gateway(engine, tmp_path)


def test_a_preview_is_published_with_its_offer_shown_in_the_catalogue_and_receipted(gateway: Gateway) -> None:
    publish(gateway, "offer-p")
    listed = gateway.call("buyer", "GET", "/api/v1/offers").json()
    shown = {o["offer_id"]: o["preview"] for o in listed}
    assert shown["offer-0"] is None  # an offer without extract terms has none
    preview = shown["offer-p"]
    assert len(preview["rows"]) == 5 and all(set(r) == set(RELEASABLE) for r in preview["rows"])
    assert preview["receipt"]["scope"] == preview_scope("offer-p")
    [entry] = gateway.entries(Event.PREVIEW_PUBLISHED)
    assert entry["subjects"] == {"offer": "offer-p", "participant": PROVIDERS[0]}
    payload = entry["payload"]
    assert payload["rows"] == 5 and payload["k"] >= EXTRACT["k"] and payload["input_digest"]
    assert payload["output_digest"] == sha256_hex(canonical(preview["rows"]))


def test_a_preview_holding_personal_data_refuses_the_offer(gateway: Gateway) -> None:
    with pytest.raises(ReleaseBlocked) as caught:
        publish(gateway, "offer-leak", leak=True)
    assert caught.value.code == "personal_data_detected" and PHONE not in str(caught.value)
    assert "offer-leak" not in {row.offer_id for row in gateway.context.store.offers()}
    [refusal] = gateway.entries(Event.OFFER_REFUSED)
    assert refusal["payload"]["code"] == "personal_data_detected" and PHONE not in json.dumps(refusal)
    assert gateway.entries(Event.PREVIEW_PUBLISHED) == []


# ----------------------------------------------------------------------------------------- submission


def extract_contract(gateway: Gateway) -> tuple[str, dict[str, str]]:
    """A FINALIZED contract over three extract offers for a buyer of its own, and that buyer's headers."""
    context, now = gateway.context, utc_now()
    token, buyer_key = _enroll_buyer(gateway.client, gateway.auth("operator"), EXTRACT_BUYER)
    buyer = {"Authorization": f"Bearer {token}"}
    keys = {p: Ed25519PrivateKey.generate() for p in PROVIDERS}
    for index, provider in enumerate(PROVIDERS):
        offer = extract_offer(index, offer_id=f"offer-x{index}", not_before=now - timedelta(days=1),
                              not_after=now + timedelta(days=9))  # fmt: skip
        contracting.publish_offer(context, provider, offer.model_dump_json())
        public = keys[provider].public_key().public_bytes_raw()
        context.store.set_signing_key(provider, base64.b64encode(public).decode(), now)
    contract = contracting.propose(
        context, EXTRACT_BUYER, [f"offer-x{i}" for i in range(3)], "research", "CN"
    )
    contract_id = contract.contract_id
    for provider in PROVIDERS:
        contracting.act(context, contract_id, provider, Move.OFFER)
    contracting.act(context, contract_id, EXTRACT_BUYER, Move.AGREE)
    for party, key in [*keys.items(), (EXTRACT_BUYER, buyer_key)]:
        current = contracting.load(context, contract_id)
        contracting.act(
            context, contract_id, party, Move.SIGN, sign_terms(current, party, key).signature_of(party)
        )
    assert contracting.load(context, contract_id).state == "FINALIZED"
    return contract_id, buyer


def submit(
    gateway: Gateway, spec: dict[str, Any], contract_id: str, headers: dict[str, str] | None = None
) -> Any:
    body = {"dataset": "plant", **spec, "contract_id": contract_id}
    return gateway.client.post("/api/v1/jobs", json=body, headers=headers or gateway.auth("buyer"))


def test_an_extract_under_a_contract_that_does_not_name_it_is_refused(gateway: Gateway) -> None:
    refused = submit(gateway, {"kind": "extract", "columns": ["temp"]}, gateway.contract_id)
    assert refused.status_code == 403, refused.text
    error = refused.json()["error"]
    assert error["code"] == "policy_violation" and error["details"]["constraint"] == "job_kind"
    assert [e["payload"]["code"] for e in gateway.entries(Event.JOB_REFUSED)] == ["policy_violation"]


def test_an_extract_spec_is_checked_against_the_contracts_terms(gateway: Gateway) -> None:
    contract_id, buyer = extract_contract(gateway)
    shown = gateway.client.get(f"/api/v1/contracts/{contract_id}", headers=buyer).json()
    assert Contract.model_validate(shown).terms.extract is not None
    accepted = submit(gateway, {"kind": "extract", "columns": ["line", "temp"]}, contract_id, buyer)
    assert accepted.status_code == 202, accepted.text
    bad = {
        "important": ({"kind": "extract", "columns": ["energy"]}, 403),
        "epsilon": ({"kind": "extract", "columns": ["line"], "epsilon": 0.5}, 422),
        "no_columns": ({"kind": "extract"}, 403),
        "grouped": ({"kind": "extract", "columns": ["line"], "group_by": "shift"}, 403),
    }
    for name, (spec, status) in bad.items():
        answer = submit(gateway, spec, contract_id, buyer)
        assert answer.status_code == status, (name, answer.text)
