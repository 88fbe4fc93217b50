"""A real gateway in process: the FastAPI app over a real store and audit log, and a finalized contract.

Nothing is faked below the HTTP edge: the store is SQLite in ``tmp_path`` (and PostgreSQL when
``DATASPACE_TEST_POSTGRES_URL`` is set), keys and the operator token are made as ``coordinator serve``
makes them, and the contract is negotiated and signed for real. No node is connected, so jobs stay queued
unless a test finishes them through the store.
"""

from __future__ import annotations

import base64
import json
import secrets
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import anyio
import httpx
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from fastapi import FastAPI
from sqlalchemy import Engine

from contracts.agreement import Contract
from contracts.enrollment import hash_secret
from contracts.identity import Role, make_participant_id
from contracts.negotiation import Event as Move
from contracts.signing import sign_terms
from coordinator.api.app import create_app
from coordinator.audit.store import AuditLog
from coordinator.audit.trail import AuditTrail
from coordinator.context import utc_now
from coordinator.identity.keys import ensure_operator_token, load_or_create_keys
from coordinator.server.runtime import ServerContext
from coordinator.services import contracting
from coordinator.settings import CoordinatorSettings
from coordinator.store.database import Store
from coordinator.store.tables import ApiToken, JobState
from tests.contracts.test_offers import PROVIDERS, offer_dict

BUYER = make_participant_id("91110000MA01GATE0")
STRANGER = make_participant_id("91110000MA01XTRA0")
MEAN_TEMP: dict[str, Any] = {"kind": "mean", "dataset": "plant", "field": "temp"}


class AppClient:
    """A synchronous client that calls the ASGI app in process, through httpx's ASGI transport (no socket)."""

    def __init__(self, app: FastAPI) -> None:
        self.app = app

    def request(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        async def call() -> httpx.Response:
            transport = httpx.ASGITransport(app=self.app)
            async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
                return await client.request(method, path, **kwargs)

        return anyio.run(call)

    def get(self, path: str, **kwargs: Any) -> httpx.Response:
        return self.request("GET", path, **kwargs)

    def post(self, path: str, **kwargs: Any) -> httpx.Response:
        return self.request("POST", path, **kwargs)


@dataclass
class Gateway:
    """The app, its context, a client per role and a FINALIZED contract between BUYER and PROVIDERS."""

    app: FastAPI
    context: ServerContext
    client: AppClient
    tokens: dict[str, str]  # role -> bearer token: operator, buyer, factory, stranger (another buyer)
    contract_id: str
    job_id: str = ""  # a queued job, where a test made one
    buyer_key: Any = None  # the buyer's contract-signing key (Ed25519PrivateKey)

    def auth(self, who: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.tokens[who]}"}

    def call(self, who: str | None, method: str, path: str, **kwargs: Any) -> Any:
        headers = {**(self.auth(who) if who else {}), **kwargs.pop("headers", {})}
        return self.client.request(method, path, headers=headers, **kwargs)

    def entries(self, kind: str | None = None) -> list[dict[str, Any]]:
        log = self.context.audit.log
        return [e.to_json() for e in log.entries(0, 100_000, kind=kind)]

    def finish(self, job_id: str, result: dict[str, Any]) -> None:
        """Mark a queued job SUCCEEDED with ``result``, as the orchestrator would after a run."""
        self.context.store.finish_job(
            job_id, JobState.SUCCEEDED, utc_now(), result_json=json.dumps(result), contributors=3
        )


def make_context(engine: Engine, data_dir: Path, **settings: Any) -> ServerContext:
    """What ``coordinator.server.serve.build_context`` assembles, on a given engine."""
    now = utc_now()
    store = Store(engine)
    keys = load_or_create_keys(data_dir, ["localhost", "127.0.0.1"], now)
    ensure_operator_token(data_dir, store, now)
    audit = AuditTrail(AuditLog(engine, keys.log_signer.name, keys.log_signer), utc_now)
    config = CoordinatorSettings(data_dir=data_dir, database_url=None, **settings)
    return ServerContext(settings=config, store=store, keys=keys, audit=audit)


def _enroll_buyer(client: AppClient, operator: dict[str, str], participant_id: str) -> tuple[str, Any]:
    key = Ed25519PrivateKey.generate()
    body = {"participant_id": participant_id, "role": "buyer"}
    token = client.post("/api/v1/enrollment-tokens", json=body, headers=operator).json()["token"]
    public = base64.b64encode(key.public_key().public_bytes_raw()).decode()
    enrolled = client.post("/api/v1/enroll", json={"token": token, "signing_public_key": public})
    assert enrolled.status_code == 200, enrolled.text
    return str(enrolled.json()["api_token"]), key


def _factory_token(context: ServerContext, participant_id: str) -> str:
    token = "ft_" + secrets.token_urlsafe(24)
    context.store.add_api_token(
        ApiToken(
            token_hash=hash_secret(token),
            participant_id=participant_id,
            role=Role.FACTORY,
            created_at=utc_now(),
        )
    )
    return token


def _finalized_contract(context: ServerContext, client: AppClient, buyer: dict[str, str], key: Any) -> str:
    now = utc_now()
    provider_keys = {p: Ed25519PrivateKey.generate() for p in PROVIDERS}
    for index, provider in enumerate(PROVIDERS):
        offer = offer_dict(index, not_before=now - timedelta(days=1), not_after=now + timedelta(days=30))
        contracting.publish_offer(context, provider, _json(offer))
        public = provider_keys[provider].public_key().public_bytes_raw()
        context.store.set_signing_key(provider, base64.b64encode(public).decode(), now)
    body = {"offer_ids": [f"offer-{i}" for i in range(len(PROVIDERS))], "purpose": "research", "region": "CN"}
    proposed = client.post("/api/v1/contracts", json=body, headers=buyer)
    assert proposed.status_code == 201, proposed.text
    contract_id = str(proposed.json()["contract_id"])
    for provider in PROVIDERS:
        contracting.act(context, contract_id, provider, Move.OFFER)
    assert client.post(f"/api/v1/contracts/{contract_id}/agree", headers=buyer).status_code == 200
    for provider in PROVIDERS:
        contract = contracting.load(context, contract_id)
        signature = sign_terms(contract, provider, provider_keys[provider]).signature_of(provider)
        contracting.act(context, contract_id, provider, Move.SIGN, signature)
    contract = Contract.model_validate(client.get(f"/api/v1/contracts/{contract_id}", headers=buyer).json())
    signature = sign_terms(contract, BUYER, key).signature_of(BUYER)
    assert signature is not None
    signed = client.post(
        f"/api/v1/contracts/{contract_id}/signature", json=signature.model_dump(mode="json"), headers=buyer
    )
    assert signed.status_code == 200, signed.text
    assert signed.json()["negotiation"]["stage"] == "FINALIZED"
    return contract_id


def _json(value: Any) -> str:
    return json.dumps(value, default=str)


def open_gateway(engine: Engine, data_dir: Path, **settings: Any) -> Gateway:
    context = make_context(engine, data_dir, **settings)
    app = create_app(context)
    client = AppClient(app)
    operator_token = (data_dir / "operator.token").read_text().strip()
    operator = {"Authorization": f"Bearer {operator_token}"}
    buyer_token, key = _enroll_buyer(client, operator, BUYER)
    stranger_token, _ = _enroll_buyer(client, operator, STRANGER)
    tokens = {
        "operator": operator_token,
        "buyer": buyer_token,
        "stranger": stranger_token,
        "factory": _factory_token(context, PROVIDERS[0]),
    }
    contract_id = _finalized_contract(context, client, {"Authorization": f"Bearer {buyer_token}"}, key)
    return Gateway(app, context, client, tokens, contract_id, buyer_key=key)


@pytest.fixture
def gateway(engine: Engine, tmp_path: Path) -> Iterator[Gateway]:
    """A gateway with a finalized contract, on SQLite and (when configured) PostgreSQL."""
    yield open_gateway(engine, tmp_path)
