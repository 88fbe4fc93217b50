"""Schemathesis against the gateway's own OpenAPI schema, in process: every operation, every role.

Each case is sent straight into the ASGI app (no socket) over a real store with a finalized contract and a
queued job, as the operator, a buyer, a factory and an anonymous client. Valid and invalid requests alike
must get an answer that is not a 5xx and that matches the schema (status, content type and body).

A quick profile runs by default (``QUICK_EXAMPLES`` per operation and role, so the suite stays fast); set
``DATASPACE_SCHEMATHESIS_EXAMPLES`` for a longer one. Each test prints the cases it sent.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)
from sqlalchemy import create_engine, text

from coordinator.api.app import create_app
from coordinator.settings import CoordinatorSettings
from coordinator.store.database import make_engine
from tests.conftest import POSTGRES_URL_VAR
from tests.coordinator.api.conftest import MEAN_TEMP, Gateway, open_gateway

QUICK_EXAMPLES = 4
pytestmark = pytest.mark.fuzz
EXAMPLES = int(os.environ.get("DATASPACE_SCHEMATHESIS_EXAMPLES", QUICK_EXAMPLES))
ROLES = ("operator", "buyer", "factory", None)
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]

# The schema does not depend on the context, so it is read from an app built on a stand-in at collection.
SCHEMA = schemathesis.openapi.from_dict(
    create_app(SimpleNamespace(settings=CoordinatorSettings(data_dir=Path("unused")))).openapi()  # type: ignore[arg-type]
)
OPERATIONS = sorted(
    (operation.ok().method.upper(), operation.ok().path) for operation in SCHEMA.get_all_operations()
)


@pytest.fixture(scope="module", params=["sqlite", "postgres"])
def fuzzed(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Gateway]:
    """One gateway for the whole module (state accumulates, as on a real coordinator), with a queued job."""
    data_dir = tmp_path_factory.mktemp("fuzzed")
    if request.param == "sqlite":
        engine = make_engine(None, data_dir)
        cleanup = engine.dispose
    else:
        url = os.environ.get(POSTGRES_URL_VAR)
        if not url:
            pytest.skip(f"{POSTGRES_URL_VAR} is not set")
        engine, cleanup = _postgres_schema(url)
    try:
        gateway = open_gateway(engine, data_dir)
        queued = gateway.call(
            "buyer", "POST", "/api/v1/jobs", json={**MEAN_TEMP, "contract_id": gateway.contract_id}
        )
        assert queued.status_code == 202, queued.text
        gateway.job_id = queued.json()["id"]
        yield gateway
    finally:
        cleanup()


def _postgres_schema(url: str) -> tuple[Any, Any]:
    schema = f"t_{uuid.uuid4().hex[:12]}"
    admin = create_engine(url)
    with admin.begin() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    engine = create_engine(url, connect_args={"options": f"-csearch_path={schema}"})

    def cleanup() -> None:
        engine.dispose()
        with admin.begin() as conn:
            conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()

    return engine, cleanup


def _aim(case: Any, gateway: Gateway, data: st.DataObject) -> None:
    """Now and then point a generated case at the real contract and job, so it reaches the domain rules."""
    real = {"contract_id": gateway.contract_id, "job_id": gateway.job_id}
    for name, value in real.items():
        if name in (case.path_parameters or {}) and data.draw(st.booleans(), label=f"real {name}"):
            case.path_parameters[name] = value
    if (
        isinstance(case.body, dict)
        and "contract_id" in case.body
        and data.draw(st.booleans(), label="real body")
    ):
        case.body["contract_id"] = gateway.contract_id


@pytest.mark.parametrize("role", ROLES, ids=[r or "anonymous" for r in ROLES])
@pytest.mark.parametrize(("method", "path"), OPERATIONS, ids=[f"{m} {p}" for m, p in OPERATIONS])
def test_no_5xx_and_no_schema_violation(fuzzed: Gateway, method: str, path: str, role: str | None) -> None:
    operation = SCHEMA[path][method]
    cases = st.one_of(
        operation.as_strategy(generation_mode=GenerationMode.POSITIVE),
        operation.as_strategy(generation_mode=GenerationMode.NEGATIVE),
    )
    headers = fuzzed.auth(role) if role else {}
    sent = 0

    @settings(max_examples=EXAMPLES, deadline=None, database=None, suppress_health_check=list(HealthCheck))
    @given(case=cases, data=st.data())
    def run(case: Any, data: st.DataObject) -> None:
        nonlocal sent
        _aim(case, fuzzed, data)
        if role is not None:
            case.headers = {**(case.headers or {}), **headers}
        response = case.call(app=fuzzed.app)
        sent += 1
        case.validate_response(response, checks=CHECKS)

    run()
    print(f"schemathesis: {sent} cases for {method} {path} as {role or 'anonymous'}")
