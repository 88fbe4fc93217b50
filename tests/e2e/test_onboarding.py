"""Three factories bring their own tables: init describes them, a person confirms, joint jobs run.

Each factory has a kiln log, an energy-meter series and a quality-inspection table with inspectors' names,
all its own (its own cycles, start dates and people), yet the proposed schemas agree, so the coordinator
counts all three in; the secure results equal numpy's over the pooled files.
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from typing import Any

import numpy as np
import pytest

from coordinator.client.gateway import GatewayClient
from coordinator.localspace.demo_check import CellRule, compare, pooled_answer, read_factory
from coordinator.localspace.harness import LocalSpace
from node.config import load_config
from node.quality import two_significant
from tests.node.tables import KILNS, energy_meter, kiln_log, quality_inspection

pytestmark = pytest.mark.e2e
DATASET = "kiln_log"
TABLES = {"kiln_log": kiln_log, "energy_meter": energy_meter, "quality_inspection": quality_inspection}
PURPOSE = "energy_benchmarking"
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
            data = local.factory_dir(index) / "data"
            files = {
                name: make(data / f"{name}.csv", rows=900 + 150 * index, seed=index)
                for name, make in TABLES.items()
            }
            factory = local.add_factory_from_files(index, files)
            for name in TABLES:
                confirmed = node_cli("confirm", name, "--dir", str(factory.directory))
                assert confirmed.returncode == 0, confirmed.stderr
            local.start_node(factory)
        local.wait_for_nodes(FACTORIES)
        yield local
    finally:
        local.stop()


@pytest.fixture(scope="module")
def contracts(space: LocalSpace) -> Iterator[tuple[GatewayClient, dict[str, str]]]:
    """A buyer with one contract per table (a contract covers one dataset), by dataset name."""
    buyer = space.enroll_buyer()
    by_dataset = {}
    for name in TABLES:
        offers = [space.publish(f, "--purpose", PURPOSE, dataset=name) for f in space.factories]
        by_dataset[name] = buyer.negotiate(offers, PURPOSE)
    with buyer:
        yield buyer, by_dataset


@pytest.mark.parametrize("name", list(TABLES))
def test_the_factories_own_files_give_one_schema(space: LocalSpace, name: str) -> None:
    configs = [load_config(f.directory / "node.toml").dataset(name) for f in space.factories]
    assert all(c.schema == configs[0].schema for c in configs)
    assert all(
        c.paths == [f.directory.resolve() / "data" / f"{name}.csv"]
        for c, f in zip(configs, space.factories, strict=True)
    )
    with space.operator() as operator:
        [entry] = [d for d in operator.datasets() if d["name"] == name]
    assert entry["schema"] == configs[0].schema.model_dump(mode="json")


SPECS: list[dict[str, Any]] = [
    {"kind": "mean", "dataset": DATASET, "field": "temperature"},
    {"kind": "count", "dataset": DATASET, "group_by": "kiln_id"},
    {"kind": "mean", "dataset": DATASET, "field": "fuel_rate", "group_by": "kiln_id"},
    {"kind": "mean", "dataset": "energy_meter", "field": "kwh", "group_by": "meter_id"},
    {"kind": "variance", "dataset": "energy_meter", "field": "power_factor"},
    {"kind": "count", "dataset": "quality_inspection", "group_by": "result"},
    {"kind": "mean", "dataset": "quality_inspection", "field": "defect_count", "group_by": "result"},
]
IDS = ["mean", "count_by_kiln", "mean_by_kiln", "kwh_by_meter", "power_factor_variance",
       "count_by_result", "defects_by_result"]  # fmt: skip


@pytest.mark.parametrize("spec", SPECS, ids=IDS)
def test_a_joint_job_equals_the_pooled_answer(
    space: LocalSpace, contracts: tuple[GatewayClient, dict[str, str]], spec: dict[str, Any]
) -> None:
    buyer, by_dataset = contracts
    name = spec["dataset"]
    schema = load_config(space.factories[0].directory / "node.toml").dataset(name).schema
    pooled = [read_factory([f.directory / "data" / f"{name}.csv"], schema) for f in space.factories]
    buyer.contract_id = by_dataset[name]
    job = buyer.wait(buyer.submit_job(spec)["id"], timeout=120)
    assert job["state"] == "SUCCEEDED", job["reason"]
    assert job["contributors"] == FACTORIES
    result = buyer.result(job["id"])["result"]
    assert compare(result, pooled_answer(spec, pooled, schema, CellRule()), rel_tol=1e-6) == []
    if spec["kind"] == "mean" and "group_by" not in spec:
        values = np.concatenate([data["temperature"] for data in pooled])
        [group] = result["groups"]
        assert group["mean"] == pytest.approx(np.nanmean(values), rel=1e-9, abs=1e-6)
        assert group["n"] == int(np.sum(~np.isnan(values)))
    if spec["kind"] == "count":  # every declared category, counted over the pooled rows
        field = spec["group_by"]
        labels = np.concatenate([data[field] for data in pooled])
        categories = schema.field(field).categories or []
        assert [(g["group"], g["n"]) for g in result["groups"]] == [
            (c, int(np.sum(labels == c))) for c in categories
        ]
        assert field != "kiln_id" or categories == list(KILNS)


def test_offers_carry_the_quality_their_nodes_measured(
    space: LocalSpace, contracts: tuple[GatewayClient, dict[str, str]]
) -> None:
    buyer, _ = contracts
    kiln_offers = [o for o in buyer.offers() if o["dataset"] == DATASET]
    assert len(kiln_offers) == FACTORIES
    for offer in kiln_offers:
        factory = next(f for f in space.factories if f.participant_id == offer["provider"])
        with (factory.directory / "data" / f"{DATASET}.csv").open(encoding="utf-8") as handle:
            lines = handle.read().splitlines()[1:]
        blanks = sum(line.split(",")[2] == "" for line in lines)  # thermocouple dropouts
        quality = offer["quality"]
        assert quality["rows"] == two_significant(len(lines))
        assert quality["completeness"] == (4 * len(lines) - blanks) * 100 // (4 * len(lines)) / 100
        assert quality["validity"] == 1.0 and quality["duplicate_rate"] == 0.0  # init's bounds cover all
