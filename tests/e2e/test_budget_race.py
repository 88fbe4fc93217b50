"""A buyer racing its own contract: simultaneous submissions cannot run more jobs than the contract allows.

Real coordinator and node processes, on the embedded SQLite and, when configured, on a fresh PostgreSQL
database. Only admission is checked; the admitted jobs are not waited for.
"""

from __future__ import annotations

import os
import threading
import uuid
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import psycopg
import pytest
from psycopg import sql
from sqlalchemy.engine import make_url

from coordinator.localspace.harness import BUYER_ID, LocalSpace

from .conftest import start_space

pytestmark = pytest.mark.e2e
POSTGRES_URL_VAR = "DATASPACE_TEST_POSTGRES_URL"
MAX_JOBS = 5
SUBMISSIONS = 40
MEAN_TEMP = {"kind": "mean", "dataset": "steel_production", "field": "furnace_temp_c"}


@pytest.fixture(params=["sqlite", "postgres"])
def database_url(request: pytest.FixtureRequest) -> Iterator[str | None]:
    """None for the coordinator's embedded SQLite, else the URL of a PostgreSQL database made for the test."""
    if request.param == "sqlite":
        yield None
        return
    url = os.environ.get(POSTGRES_URL_VAR)
    if not url:
        pytest.skip(f"{POSTGRES_URL_VAR} is not set")
    server = make_url(url)
    admin = server.set(drivername="postgresql").render_as_string(hide_password=False)
    name = f"race_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    try:
        yield server.set(database=name).render_as_string(hide_password=False)
    finally:
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))


@pytest.fixture
def space(tmp_path_factory: pytest.TempPathFactory, database_url: str | None) -> Iterator[LocalSpace]:
    env = {} if database_url is None else {"DATASPACE_DATABASE_URL": database_url}
    local = start_space(tmp_path_factory.mktemp("race"), 3, env)
    try:
        yield local
    finally:
        local.stop()


def _submit_together(space: LocalSpace, token: str, contract_id: str) -> list[tuple[int, dict[str, Any]]]:
    """Send the same job SUBMISSIONS times at once, each from its own connection; (status, body) each."""
    start = threading.Barrier(SUBMISSIONS)

    def submit(_: int) -> tuple[int, dict[str, Any]]:
        with space.client(token) as client:
            client.health()  # connected before the barrier, so the submissions leave together
            start.wait(timeout=60)
            response = client.http.post("/api/v1/jobs", json={**MEAN_TEMP, "contract_id": contract_id})
            return response.status_code, response.json()

    with ThreadPoolExecutor(SUBMISSIONS) as pool:
        return list(pool.map(submit, range(SUBMISSIONS)))


def test_simultaneous_submissions_cannot_overrun_the_query_count(space: LocalSpace) -> None:
    offer_ids = [
        space.publish(f, "--purpose", "research", "--max-jobs", str(MAX_JOBS)) for f in space.factories
    ]
    with space.enroll_buyer(BUYER_ID) as buyer, space.operator() as operator:
        contract_id = buyer.negotiate(offer_ids, "research")
        replies = _submit_together(space, buyer.token or "", contract_id)

        statuses = Counter(status for status, _ in replies)
        jobs_run = buyer.contract_usage(contract_id)["jobs_run"]
        assert (statuses, jobs_run) == ({202: MAX_JOBS, 403: SUBMISSIONS - MAX_JOBS}, MAX_JOBS)
        for status, body in replies:
            if status == 403:
                assert body["error"]["code"] == "policy_violation", body
                assert body["error"]["details"]["constraint"] == "query_count", body
        admitted = {body["id"] for status, body in replies if status == 202}
        listed = {
            job["id"] for job in buyer.http.get("/api/v1/jobs").json() if job["contract_id"] == contract_id
        }
        assert listed == admitted

        subject = f"contract:{contract_id}"
        spent = operator.audit_entries(kind="budget.spent", subject=subject)
        assert sorted(e["payload"]["jobs_run"] for e in spent) == list(range(1, MAX_JOBS + 1))
        refused = operator.audit_entries(kind="job.refused", subject=subject)
        assert [e["payload"]["constraint"] for e in refused] == ["query_count"] * (SUBMISSIONS - MAX_JOBS)

    coordinator = space.coordinator
    assert coordinator is not None
    space.stop()
    assert coordinator.returncode == 0  # shut down by SIGTERM with admitted jobs queued or running
