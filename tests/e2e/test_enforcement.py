"""Every constraint of a contract, driven to a violation through the real gateway and real nodes.

A refused job is refused before any node computes anything, and the contract's usage does not move.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from coordinator.client.gateway import GatewayClient, GatewayError
from coordinator.localspace.harness import BUYER_ID, LocalSpace, factory_id
from node.journal import Journal

from .conftest import start_space

pytestmark = pytest.mark.e2e
MEAN_TEMP = {"kind": "mean", "dataset": "steel_production", "field": "furnace_temp_c"}


@pytest.fixture(scope="module")
def space(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalSpace]:
    local = start_space(tmp_path_factory.mktemp("enforcement"), 3)
    try:
        yield local
    finally:
        local.stop()


def _contract(space: LocalSpace, buyer: GatewayClient, *publish: str, region: str = "CN") -> str:
    args = publish if "--purpose" in publish else ("--purpose", "research", *publish)
    offer_ids = [space.publish(f, *args) for f in space.factories]
    purpose = args[list(args).index("--purpose") + 1]
    return buyer.negotiate(offer_ids, purpose, region)


def _computations(space: LocalSpace) -> int:
    return sum(
        1
        for f in space.factories
        for e in Journal(f.directory / "journal.jsonl").entries()
        if e["event"] == "job_accepted"
    )


def _refused(space: LocalSpace, buyer: GatewayClient, contract_id: str, spec: dict[str, Any], constraint: str,
             **extra: Any) -> dict[str, Any]:  # fmt: skip
    before_usage, before_computed = buyer.contract_usage(contract_id), _computations(space)
    with pytest.raises(GatewayError) as refused:
        buyer.submit_job({**spec, "contract_id": contract_id, **extra})
    error = refused.value
    assert (error.status, error.code) == (403, "policy_violation"), error
    assert constraint in {r["constraint"] for r in error.details["reasons"]}, error.details
    time.sleep(0.5)  # a node that had been asked would have journalled by now
    assert buyer.contract_usage(contract_id) == before_usage
    assert _computations(space) == before_computed
    return dict(error.details)


@pytest.fixture(scope="module")
def buyer(space: LocalSpace) -> Iterator[GatewayClient]:
    with space.enroll_buyer(BUYER_ID) as client:
        yield client


@pytest.mark.parametrize(
    ("publish", "spec", "constraint"),
    [
        (
            ("--kind", "mean", "--kind", "count"),
            {
                "kind": "histogram",
                "dataset": "steel_production",
                "field": "defect_rate_pct",
                "bins": [0, 5, 100],
            },
            "job_kind",
        ),
        ((), {"kind": "mean", "dataset": "steel_production", "field": "operator_name"}, "fields"),
        ((), {**MEAN_TEMP, "filters": [{"field": "heat_id", "op": "eq", "value": "H1"}]}, "filter_fields"),
        ((), {**MEAN_TEMP, "group_by": "heat_id"}, "group_by"),
        ((), {"kind": "mean", "dataset": "steel_production", "field": "heat_id"}, "grade"),
        (("--min-cohort", "4"), MEAN_TEMP, "min_cohort"),
    ],
    ids=["job_kind", "fields", "filter_fields", "group_by", "grade", "min_cohort"],
)
def test_job_outside_the_terms_is_refused(space: LocalSpace, buyer: GatewayClient, publish: tuple[str, ...],
                                          spec: dict[str, Any], constraint: str) -> None:  # fmt: skip
    _refused(space, buyer, _contract(space, buyer, *publish), spec, constraint)


def test_query_count(space: LocalSpace, buyer: GatewayClient) -> None:
    contract_id = _contract(space, buyer, "--max-jobs", "1")
    first = buyer.wait(buyer.submit_job({**MEAN_TEMP, "contract_id": contract_id})["id"])
    assert first["state"] == "SUCCEEDED"
    _refused(space, buyer, contract_id, MEAN_TEMP, "query_count")


def test_purpose(space: LocalSpace, buyer: GatewayClient) -> None:
    contract_id = _contract(space, buyer)  # contracted for research
    _refused(space, buyer, contract_id, MEAN_TEMP, "purpose", purpose="insurance_underwriting")


def test_epsilon_budget(space: LocalSpace, buyer: GatewayClient) -> None:
    contract_id = _contract(space, buyer, "--epsilon", "1.0")
    _refused(space, buyer, contract_id, MEAN_TEMP, "epsilon_budget", epsilon=2.0)


def test_validity_window(space: LocalSpace, buyer: GatewayClient) -> None:
    contract_id = _contract(space, buyer, "--valid-days", "0.0002")  # about seventeen seconds
    terms = buyer.contract(contract_id)["providers"]
    offer_ids = {o for part in terms for o in part["offer_ids"]}
    ends = [datetime.fromisoformat(o["not_after"]) for o in buyer.offers() if o["offer_id"] in offer_ids]
    time.sleep(max(0.0, (min(ends) - datetime.now(UTC)).total_seconds()) + 0.5)
    _refused(space, buyer, contract_id, MEAN_TEMP, "validity_window")


def test_cross_border(space: LocalSpace) -> None:
    with space.enroll_buyer(factory_id(70)) as foreign:
        contract_id = _contract(space, foreign, "--region", "CN", "--region", "DE", region="DE")
        _refused(
            space, foreign, contract_id, MEAN_TEMP, "cross_border"
        )  # furnace temperature is important-grade
        general = {
            "kind": "mean",
            "dataset": "steel_production",
            "field": "scrap_ratio",
            "contract_id": contract_id,
        }
        allowed = foreign.wait(foreign.submit_job(general)["id"])
        assert allowed["state"] == "SUCCEEDED"


def test_region_and_purpose_outside_the_offers_cannot_be_contracted(
    space: LocalSpace, buyer: GatewayClient
) -> None:
    offer_ids = [space.publish(f, "--purpose", "research") for f in space.factories]
    for purpose, region, code in (("research", "US", "region_not_allowed"),
                                  ("insurance_underwriting", "CN", "purpose_not_allowed")):  # fmt: skip
        with pytest.raises(GatewayError) as refused:
            buyer.propose_contract(offer_ids, purpose, region)
        assert (refused.value.status, refused.value.code) == (422, code)


def test_revoked_contract(space: LocalSpace, buyer: GatewayClient) -> None:
    contract_id = _contract(space, buyer)
    buyer.contract_move(contract_id, "revoke")
    _refused(space, buyer, contract_id, MEAN_TEMP, "contract_state")


def test_another_buyer_cannot_use_the_contract(space: LocalSpace, buyer: GatewayClient) -> None:
    contract_id = _contract(space, buyer)
    with space.enroll_buyer(factory_id(71)) as other, pytest.raises(GatewayError) as refused:
        other.submit_job({**MEAN_TEMP, "contract_id": contract_id})
    assert refused.value.status == 404


def test_refusals_are_audited_with_their_constraint(space: LocalSpace) -> None:
    with space.operator() as operator:
        refused = operator.audit_entries(kind="job.refused")
    constraints = {e["payload"].get("constraint") for e in refused}
    assert {"job_kind", "fields", "query_count", "cross_border", "purpose", "min_cohort"} <= constraints


def test_buyer_works_from_the_command_line(space: LocalSpace, tmp_path: Path) -> None:
    """Enroll with a local key, propose, agree, sign, run a job: all through ``dataspace``."""
    buyer_id = factory_id(72)
    with space.operator() as operator:
        enrollment = operator.create_enrollment_token(buyer_id, "buyer")
    key_file = tmp_path / "buyer.key"
    files = ("--key-file", str(key_file), "--ca", str(tmp_path / "ca.crt"))  # the CA checked against the pin
    api_token = _dataspace(space, "enroll", "--enrollment-token", enrollment, *files).strip()
    assert key_file.stat().st_mode & 0o077 == 0  # the key stays private to its owner
    auth = ("--url", space.http_url, "--token", api_token)
    offer_ids = [space.publish(f, "--purpose", "research") for f in space.factories]
    # The buyer finds them in the catalogue by the Chinese name of a tag their furnace temperature carries.
    search = ("catalog", "温度", "--purpose", "research", "--limit", "100", "--json")
    found = json.loads(_dataspace(space, *search, *auth))
    assert set(offer_ids) <= {offer["offer_id"] for offer in found["offers"]}
    offers = [arg for offer_id in offer_ids for arg in ("--offer", offer_id)]
    proposed = json.loads(
        _dataspace(space, "contract", "propose", *offers, "--purpose", "research", "--json", *auth)
    )
    contract_id = proposed["contract_id"]
    _until(lambda: _stage(space, contract_id, auth) == "OFFERED")
    _dataspace(space, "contract", "agree", contract_id, "--json", *auth)
    _until(
        lambda: (
            len(
                json.loads(_dataspace(space, "contract", "status", contract_id, "--json", *auth))[
                    "signatures"
                ]
            )
            == 3
        )
    )
    _dataspace(
        space,
        "contract",
        "sign",  # as the participant the token speaks for, as the README shows
        contract_id,
        "--key-file",
        str(key_file),
        *auth,
    )
    _until(lambda: _stage(space, contract_id, auth) == "FINALIZED")
    spec_file = tmp_path / "job.json"
    spec_file.write_text(json.dumps(MEAN_TEMP))
    job = json.loads(
        _dataspace(
            space, "job", "submit", str(spec_file), "--contract", contract_id, "--wait", "--json", *auth
        )
    )
    assert job["state"] == "SUCCEEDED" and job["result"]["groups"][0]["n"] > 0
    status = json.loads(_dataspace(space, "contract", "status", contract_id, "--json", *auth))
    assert status["usage"]["jobs_run"] == 1


def _dataspace(space: LocalSpace, *args: str) -> str:
    command = [sys.executable, "-m", "coordinator", *args, "--data-dir", str(space.coordinator_dir)]
    result = subprocess.run(command, capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stderr
    return result.stdout


def _stage(space: LocalSpace, contract_id: str, auth: tuple[str, ...]) -> str:
    return str(
        json.loads(_dataspace(space, "contract", "status", contract_id, "--json", *auth))["negotiation"][
            "stage"
        ]
    )


def _until(condition: Callable[[], bool], timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline
        time.sleep(0.3)


def test_a_cohort_matching_proposes_is_contracted_and_runs_a_job(space: LocalSpace) -> None:
    """Demand → matches → a contract over the best cohort → a job under it: nothing refuses on the way."""
    for factory in space.factories:  # fresh offers for a purpose no other test publishes
        space.publish(factory, "--purpose", "carbon_accounting", "--kind", "mean", "--kind", "count")
    with space.enroll_buyer(factory_id(73)) as buyer:
        need = {"tags": ["temperature"], "job_kinds": ["mean"], "purpose": "carbon_accounting",
                "region": "CN", "min_factories": 3}  # fmt: skip
        demand_id = buyer.create_demand(need)["demand_id"]
        [best, *_] = buyer.demand_matches(demand_id)
        assert len(set(best["providers"])) == 3 and best["fields"]["temperature"] == "furnace_temp_c"
        contract_id = buyer.negotiate(best["offer_ids"], "carbon_accounting")
        job = buyer.wait(buyer.submit_job({**MEAN_TEMP, "contract_id": contract_id})["id"], timeout=120)
    assert job["state"] == "SUCCEEDED", job["reason"]
    assert job["contributors"] == 3
