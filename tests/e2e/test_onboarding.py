"""Three factories bring their own kiln logs: init describes them, a person confirms, a joint job runs.

Each factory's table is its own (its own firing cycles and start date), yet the proposed schemas agree, so
the coordinator counts all three in; the secure results equal numpy's over the pooled files.
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from typing import Any

import numpy as np
import pytest

from coordinator.localspace.demo_check import CellRule, compare, pooled_answer, read_factory
from coordinator.localspace.harness import LocalSpace
from node.config import load_config
from tests.node.tables import KILNS, kiln_log

pytestmark = pytest.mark.e2e
DATASET = "kiln_log"
FACTORIES = 3


def node_cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "node", *args], capture_output=True, text=True, check=False)


@pytest.fixture(scope="module")
def space(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalSpace]:
    workdir = tmp_path_factory.mktemp("onboarding")
    local = LocalSpace(
        workdir, extra_env={"DATASPACE_ROUND_TIMEOUT_S": "20", "DATASPACE_PARTICIPANT_WAIT_S": "10"}
    )
    local.start_coordinator()
    try:
        for index in range(FACTORIES):
            data = kiln_log(
                local.factory_dir(index) / "data" / f"{DATASET}.csv", rows=900 + 150 * index, seed=index
            )
            factory = local.add_factory_from_file(index, data, DATASET)
            confirmed = node_cli("confirm", DATASET, "--dir", str(factory.directory))
            assert confirmed.returncode == 0, confirmed.stderr
            local.start_node(factory)
        local.wait_for_nodes(FACTORIES)
        yield local
    finally:
        local.stop()


@pytest.fixture(scope="module")
def buyer_contract(space: LocalSpace) -> Iterator[Any]:
    purpose = "energy_benchmarking"
    offers = [space.publish(f, "--purpose", purpose, dataset=DATASET) for f in space.factories]
    buyer = space.enroll_buyer()
    buyer.contract_id = buyer.negotiate(offers, purpose)
    with buyer:
        yield buyer


def test_the_factories_own_files_give_one_schema(space: LocalSpace) -> None:
    configs = [load_config(f.directory / "node.toml").dataset(DATASET) for f in space.factories]
    assert all(c.schema == configs[0].schema for c in configs)
    assert all(c.paths == [f.data_file.resolve()] for c, f in zip(configs, space.factories, strict=True))
    with space.operator() as operator:
        [entry] = [d for d in operator.datasets() if d["name"] == DATASET]
    assert entry["schema"] == configs[0].schema.model_dump(mode="json")


SPECS: list[dict[str, Any]] = [
    {"kind": "mean", "dataset": DATASET, "field": "temperature"},
    {"kind": "count", "dataset": DATASET, "group_by": "kiln_id"},
    {"kind": "mean", "dataset": DATASET, "field": "fuel_rate", "group_by": "kiln_id"},
]


@pytest.mark.parametrize("spec", SPECS, ids=["mean", "count_by_kiln", "mean_by_kiln"])
def test_a_joint_job_equals_the_pooled_answer(
    space: LocalSpace, buyer_contract: Any, spec: dict[str, Any]
) -> None:
    schema = load_config(space.factories[0].directory / "node.toml").dataset(DATASET).schema
    pooled = [read_factory([f.data_file], schema) for f in space.factories]
    job = buyer_contract.wait(buyer_contract.submit_job(spec)["id"], timeout=120)
    assert job["state"] == "SUCCEEDED", job["reason"]
    assert job["contributors"] == FACTORIES
    result = buyer_contract.result(job["id"])["result"]
    assert compare(result, pooled_answer(spec, pooled, schema, CellRule()), rel_tol=1e-6) == []
    if spec["kind"] == "mean" and "group_by" not in spec:
        values = np.concatenate([data["temperature"] for data in pooled])
        [group] = result["groups"]
        assert group["mean"] == pytest.approx(np.nanmean(values), rel=1e-9, abs=1e-6)
        assert group["n"] == int(np.sum(~np.isnan(values)))
    if spec["kind"] == "count":
        kilns = np.concatenate([data["kiln_id"] for data in pooled])
        assert [(g["group"], g["n"]) for g in result["groups"]] == [
            (k, int(np.sum(kilns == k))) for k in KILNS
        ]
