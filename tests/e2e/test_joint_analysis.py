"""Joint analyses across four real node processes over gRPC and mutual TLS, checked against pooled data."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from contracts.schema import DatasetSchema
from coordinator.localspace.demo_check import CellRule, compare, pooled_answer, read_factory
from coordinator.localspace.harness import LocalSpace

pytestmark = pytest.mark.e2e
DATASET = "steel_production"

SPECS: list[dict[str, Any]] = [
    {
        "kind": "count",
        "dataset": DATASET,
        "group_by": "shift",
        "filters": [{"field": "process_step", "op": "in", "value": ["LF", "RH"]}],
    },
    {"kind": "sum", "dataset": DATASET, "field": "throughput_t_per_h"},
    {"kind": "mean", "dataset": DATASET, "field": "furnace_temp_c", "group_by": "line"},
    {"kind": "variance", "dataset": DATASET, "field": "defect_rate_pct"},
    {
        "kind": "histogram",
        "dataset": DATASET,
        "field": "furnace_temp_c",
        "bins": [1400, 1500, 1600, 1700, 1800],
    },
    {
        "kind": "linear_regression",
        "dataset": DATASET,
        "features": ["furnace_temp_c", "scrap_ratio"],
        "target": "energy_kwh_per_t",
    },
]


def _schema(space: LocalSpace) -> DatasetSchema:
    with space.operator() as operator:
        entry = next(d for d in operator.datasets() if d["name"] == DATASET)
    return DatasetSchema.model_validate(entry["schema"])


@pytest.mark.parametrize("spec", SPECS, ids=[s["kind"] for s in SPECS])
def test_secure_result_equals_pooled_answer(space: LocalSpace, spec: dict[str, Any]) -> None:
    schema = _schema(space)
    pooled = [read_factory([f.data_file], schema) for f in space.factories]
    if spec.get("filters"):
        keeps = [np.isin(data["process_step"], ["LF", "RH"]) for data in pooled]
        pooled = [
            {name: c[keep] for name, c in data.items()} for data, keep in zip(pooled, keeps, strict=True)
        ]
    with space.buyer() as buyer:
        job = buyer.wait(buyer.submit_job(spec)["id"], timeout=120)
        assert job["state"] == "SUCCEEDED", job["reason"]
        assert job["contributors"] == 4
        result = buyer.result(job["id"])["result"]
    assert compare(result, pooled_answer(spec, pooled, schema, CellRule()), rel_tol=1e-6) == []


def test_job_survives_in_store_and_is_readable_by_its_buyer_only(space: LocalSpace) -> None:
    spec = {"kind": "mean", "dataset": DATASET, "field": "scrap_ratio"}
    with space.buyer() as buyer:
        job_id = buyer.submit_job(spec)["id"]
        buyer.wait(job_id)
    from coordinator.localspace.harness import factory_id

    other_buyer_id = factory_id(90)  # any valid code not used by the first buyer
    with space.enroll_buyer(other_buyer_id) as other:
        from coordinator.client.gateway import GatewayError

        with pytest.raises(GatewayError) as err:
            other.job(job_id)
        assert err.value.status == 404
    with space.operator() as operator:
        assert operator.job(job_id)["state"] == "SUCCEEDED"


@pytest.mark.parametrize("protocol", ["secagg", "plaintext"])
def test_diagnostic_sum_of_synthetic_vectors_is_exact(space: LocalSpace, protocol: str) -> None:
    from contracts.diagnostics import DiagnosticSpec, expected_sum

    dimension = 5000
    with space.operator() as operator:
        report = operator.diagnostic({"dimension": dimension, "seed": 7, "protocol": protocol})
    assert report["contributors"] == 4 and report["correct"] is True
    # The check the coordinator made is itself checked: a different seed gives a different sum.
    spec = DiagnosticSpec(dimension=dimension, seed=7)
    assert not (
        expected_sum(spec, [0, 1, 2, 3]) == expected_sum(spec.model_copy(update={"seed": 8}), [0, 1, 2, 3])
    ).all()
    # Secure aggregation costs a few percent of upload over the plain vector: keys, envelopes, shares.
    assert 4 * dimension <= report["upload_bytes_median"] <= 1.2 * 4 * dimension
