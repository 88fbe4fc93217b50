"""A node process killed mid-protocol: before its masked input it is excluded, after it it is included."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from contracts.schema import DatasetSchema
from coordinator.localspace.demo_check import CellRule, compare, pooled_answer, read_factory
from coordinator.localspace.harness import Factory, LocalSpace
from node.faults import Fault

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


def _restart_with_fault(space: LocalSpace, victim: Factory, fault: Fault) -> None:
    from coordinator.localspace.harness import terminate

    terminate(victim.process)
    space.wait_for_nodes_exactly(len(space.factories) - 1)
    space.start_node(victim, {"DATASPACE_NODE_FAULT": fault.value})
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
