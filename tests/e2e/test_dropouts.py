"""A node process killed mid-protocol: before its masked input it is excluded, after it it is included."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from contracts.schema import DatasetSchema
from coordinator.localspace.demo_check import CellRule, compare, pooled_answer, read_factory
from coordinator.localspace.harness import Factory, LocalSpace, terminate
from tests.support.faulty_node import FAULT_ENV, Fault

from .conftest import start_space

pytestmark = pytest.mark.e2e
SPEC = {"kind": "variance", "dataset": "steel_production", "field": "energy_kwh_per_t", "group_by": "shift"}


@pytest.fixture(scope="module")
def five(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalSpace]:
    local = start_space(tmp_path_factory.mktemp("dropouts"), 5)
    try:
        yield local
    finally:
        local.stop()


_FAULTY: set[str] = set()  # nodes an earlier test of the module started with a fault


def _restart_with_fault(space: LocalSpace, victim: Factory, fault: Fault) -> None:
    """Bring back healthy every node an earlier test made faulty (or killed), then make ``victim`` faulty."""
    for factory in space.factories:
        if factory.participant_id in _FAULTY or (factory.process and factory.process.poll() is not None):
            terminate(factory.process)
            space.start_node(factory)
    _FAULTY.clear()
    space.wait_for_nodes(len(space.factories))
    terminate(victim.process)
    space.wait_for_nodes_exactly(len(space.factories) - 1)
    space.start_node(victim, {FAULT_ENV: fault.value}, module="tests.support.faulty_node")
    _FAULTY.add(victim.participant_id)
    space.wait_for_nodes(len(space.factories))


def _expected(space: LocalSpace, factories: list[Factory]) -> dict[str, object]:
    with space.operator() as operator:
        entry = next(d for d in operator.datasets() if d["name"] == SPEC["dataset"])
    schema = DatasetSchema.model_validate(entry["schema"])
    return pooled_answer(SPEC, [read_factory([f.data_file], schema) for f in factories], schema, CellRule())


def _run(space: LocalSpace) -> dict[str, object]:
    with space.buyer() as buyer:
        job = buyer.wait(buyer.submit_job(SPEC)["id"], timeout=120)
        assert job["state"] == "SUCCEEDED", job["reason"]
        return {"contributors": job["contributors"], **buyer.result(job["id"])["result"]}


def _died(factory: Factory) -> bool:
    assert factory.process is not None
    factory.process.wait(timeout=30)
    return factory.process.returncode == 17


def test_node_killed_before_masked_input_is_excluded(five: LocalSpace) -> None:
    victim = five.factories[-1]
    _restart_with_fault(five, victim, Fault.EXIT_BEFORE_MASKED_INPUT)
    result = _run(five)
    assert _died(victim)
    assert result["contributors"] == 4
    assert compare(result, _expected(five, five.factories[:-1]), rel_tol=1e-6) == []


def test_node_killed_after_masked_input_is_included(five: LocalSpace) -> None:
    victim = five.factories[-1]
    _restart_with_fault(five, victim, Fault.EXIT_AFTER_MASKED_INPUT)
    result = _run(five)
    assert _died(victim)
    assert result["contributors"] == 5
    assert compare(result, _expected(five, five.factories), rel_tol=1e-6) == []


def _run_naming_offenders(space: LocalSpace) -> tuple[dict[str, object], dict[str, str]]:
    """The job's result, and the refusal the coordinator audited for each node it left out or excluded."""
    with space.buyer() as buyer:
        job = buyer.wait(buyer.submit_job(SPEC)["id"], timeout=120)
        assert job["state"] == "SUCCEEDED", job["reason"]
        result = {"contributors": job["contributors"], **buyer.result(job["id"])["result"]}
    with space.operator() as operator:
        refusals = operator.audit_entries(subject=f"job:{job['id']}", kind="node.refused")
    return result, {e["subjects"]["participant"]: e["payload"]["reason"] for e in refusals}


def test_a_node_revealing_corrupted_shares_is_named_and_the_sum_stays_exact(five: LocalSpace) -> None:
    """Its masked input counts; its shares fail the dealers' commitments, so the others' shares are used."""
    liar = five.factories[1]
    _restart_with_fault(five, liar, Fault.CORRUPT_SHARE)
    result, offenders = _run_naming_offenders(five)
    assert result["contributors"] == 5
    assert compare(result, _expected(five, five.factories), rel_tol=1e-6) == []
    assert list(offenders) == [liar.participant_id]
    assert offenders[liar.participant_id].startswith("bad_share: ")


def test_an_empty_masked_input_drops_only_its_sender(five: LocalSpace) -> None:
    silent = five.factories[2]
    _restart_with_fault(five, silent, Fault.EMPTY_MASKED_INPUT)
    result, offenders = _run_naming_offenders(five)
    others = [f for f in five.factories if f is not silent]
    assert result["contributors"] == 4
    assert compare(result, _expected(five, others), rel_tol=1e-6) == []
    assert list(offenders) == [silent.participant_id]
    assert offenders[silent.participant_id].startswith("malformed_message: ")


def test_too_many_dropouts_fail_the_job_and_release_nothing(tmp_path: Path) -> None:
    space = start_space(tmp_path, 3)
    try:
        victim = space.factories[-1]
        _restart_with_fault(space, victim, Fault.EXIT_BEFORE_MASKED_INPUT)
        with space.buyer() as buyer:
            job = buyer.wait(buyer.submit_job(SPEC)["id"], timeout=120)
            assert job["state"] == "FAILED"
            assert "too few nodes remained" in job["reason"]
            from coordinator.client.gateway import GatewayError

            with pytest.raises(GatewayError) as err:
                buyer.result(job["id"])
            assert err.value.status == 409 and err.value.code == "result_not_available"
    finally:
        space.stop()
