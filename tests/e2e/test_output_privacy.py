"""A curious, persistent buyer against a running space: no released figure gives away one factory or one row.

Four factories (the shared ``space`` fixture, which records what the coordinator receives) whose operating
windows are staggered by a week, so early days belong to one factory alone and no day has three. Each attack
ends refused, withheld, or noised away from the victim's truth, computed here from the factories' files.
"""

from __future__ import annotations

import csv
import math
from collections.abc import Iterator
from datetime import datetime, timedelta
from typing import Any

import numpy as np
import pytest

from contracts.identity import make_participant_id
from contracts.jobspec import JobSpec, vector_layout
from contracts.privacy import gate_cells
from coordinator.client.gateway import GatewayClient, GatewayError
from coordinator.localspace.harness import LocalSpace
from node.config import load_config
from node.journal import Journal
from node.local_compute import local_vector
from protocols import fixedpoint

pytestmark = pytest.mark.e2e
ENERGY = "energy_kwh_per_t"
LO, HI = 300.0, 700.0  # the declared bounds of energy_kwh_per_t: values are clipped to them


@pytest.fixture(scope="module")
def exact(space: LocalSpace) -> Iterator[GatewayClient]:
    """A contract without an epsilon budget: figures are exact, protected by cells and granularity."""
    args = ("--purpose", "quality_improvement", "--max-jobs", "500")
    with space.contracted_buyer(space_buyer(1), *args) as buyer:
        yield buyer


@pytest.fixture(scope="module")
def private(space: LocalSpace) -> Iterator[GatewayClient]:
    """A contract with an epsilon budget: every figure is noised by the nodes (distributed mode)."""
    args = ("--purpose", "quality_improvement", "--max-jobs", "500", "--epsilon", "20")
    with space.contracted_buyer(space_buyer(2), *args) as buyer:
        yield buyer


def space_buyer(index: int) -> str:
    return make_participant_id(f"91110000MA01BY{index:02d}X")


def rows_of(space: LocalSpace) -> list[tuple[int, datetime, float]]:
    """(factory, timestamp, clipped energy) of every complete row, read straight from the CSV files."""
    out = []
    for factory in space.factories:
        with factory.data_file.open(newline="", encoding="utf-8") as handle:
            for row in csv.DictReader(handle):
                if row[ENERGY].strip() and row["ts"].strip():
                    value = min(max(float(row[ENERGY]), LO), HI)
                    out.append((factory.index, datetime.fromisoformat(row["ts"]), value))
    return out


def run(buyer: GatewayClient, spec: dict[str, Any]) -> dict[str, Any]:
    job = buyer.wait(buyer.submit_job({"dataset": "steel_production", **spec})["id"], timeout=120)
    assert job["state"] == "SUCCEEDED", job
    return buyer.result(job["id"])["result"]


def refusal(buyer: GatewayClient, spec: dict[str, Any]) -> GatewayError:
    with pytest.raises(GatewayError) as caught:
        buyer.submit_job({"dataset": "steel_production", **spec})
    return caught.value


def test_one_heat_by_its_timestamp_is_refused(space: LocalSpace, exact: GatewayClient) -> None:
    _, stamp, _ = rows_of(space)[0]
    moment = stamp.isoformat()
    error = refusal(exact, {"kind": "mean", "field": ENERGY, "filters": [
        {"field": "ts", "op": "between", "value": [moment, moment]}]})  # fmt: skip
    assert (error.status, error.code) == (422, "filter_granularity")
    midnight = stamp.replace(hour=0, minute=0, second=0).isoformat()
    error = refusal(exact, {"kind": "mean", "field": ENERGY, "filters": [
        {"field": "ts", "op": "eq", "value": midnight}]})  # fmt: skip
    assert error.code == "filter_granularity"


def test_a_window_of_one_factory_is_withheld(space: LocalSpace, exact: GatewayClient) -> None:
    rows = rows_of(space)
    first_day = min(ts for f, ts, _ in rows if f == 0).date()
    second = min(ts for f, ts, _ in rows if f == 1).date()
    window = {"field": "ts", "op": "lt", "value": f"{second.isoformat()}T00:00:00"}
    alone = [e for f, ts, e in rows if ts.date() < second]
    assert {f for f, ts, _ in rows if ts.date() < second} == {0} and len(alone) > 100
    for spec in (
        {"kind": "mean", "field": ENERGY, "filters": [window]},
        {"kind": "variance", "field": ENERGY, "filters": [window], "group_by": "line"},
        {"kind": "count", "filters": [{"field": "ts", "op": "between", "value": [
            f"{first_day.isoformat()}T00:00:00", f"{(second - timedelta(days=1)).isoformat()}T00:00:00"]}]},
    ):  # fmt: skip
        result = run(exact, spec)
        for group in result["groups"]:
            assert group["suppressed"] is True and group["code"] == "min_cohort", group
            assert set(group) == {"group", "suppressed", "reason", "code"}
        assert result["contributors"] == 0


def test_one_row_differencing_is_refused_and_the_coarse_version_is_noised(
    space: LocalSpace, exact: GatewayClient, private: GatewayClient
) -> None:
    rows = rows_of(space)
    _, stamp, _ = rows[len(rows) // 2]
    error = refusal(exact, {"kind": "sum", "field": ENERGY, "filters": [
        {"field": "ts", "op": "ne", "value": stamp.isoformat()}]})  # fmt: skip
    assert error.code == "filter_granularity"
    # The closest a buyer may come: everything, minus before a day, minus after it — a whole day's sum.
    day = stamp.date()
    start, end = f"{day.isoformat()}T00:00:00", f"{(day + timedelta(days=1)).isoformat()}T00:00:00"
    truth = math.fsum(e for _, ts, e in rows if ts.date() == day)
    total = run(private, {"kind": "sum", "field": ENERGY, "epsilon": 1.0})
    before = run(private, {"kind": "sum", "field": ENERGY, "epsilon": 1.0,
                           "filters": [{"field": "ts", "op": "lt", "value": start}]})  # fmt: skip
    after = run(private, {"kind": "sum", "field": ENERGY, "epsilon": 1.0,
                          "filters": [{"field": "ts", "op": "ge", "value": end}]})  # fmt: skip
    parts = [total, before, after]
    released = [p["groups"][0] for p in parts]
    if all("sum" in g for g in released):
        difference = released[0]["sum"] - released[1]["sum"] - released[2]["sum"]
        assert difference != pytest.approx(truth, abs=1e-6)
    for part in parts:
        assert part["privacy"]["mechanism"] == "discrete_gaussian"
        assert part["privacy"]["mode"] == "distributed"


def test_count_probing_cannot_find_where_a_factory_starts(space: LocalSpace, exact: GatewayClient) -> None:
    rows = rows_of(space)
    starts = sorted({min(ts for f, ts, _ in rows if f == i).date() for i in range(4)})
    for day in (starts[0], starts[1], starts[1] + timedelta(days=1)):
        cutoff = f"{(day + timedelta(days=1)).isoformat()}T00:00:00"
        result = run(exact, {"kind": "count", "filters": [{"field": "ts", "op": "lt", "value": cutoff}]})
        (group,) = result["groups"]
        assert group.get("suppressed") is True, (day, group)


def test_an_ordinary_job_over_all_rows_is_within_its_stated_error(
    space: LocalSpace, private: GatewayClient
) -> None:
    rows = rows_of(space)
    truth = math.fsum(e for _, _, e in rows) / len(rows)
    result = run(private, {"kind": "mean", "field": ENERGY, "epsilon": 1.0})
    (group,) = result["groups"]
    assert group["contributors"] == 4
    assert result["privacy"]["epsilon"] == 1.0 and result["privacy"]["delta"] == 1e-6
    # Six stated standard errors: a false failure has probability ~2e-9.
    assert abs(group["mean"] - truth) <= 6 * group["error"]["mean"]
    assert group["error"]["mean"] < 0.01 * truth  # useful: under 1% over 12,000 rows
    again = run(private, {"kind": "mean", "field": ENERGY, "epsilon": 1.0})["groups"][0]
    assert again["mean"] != group["mean"]  # fresh noise each time: an epsilon is never bookkeeping alone


def test_the_node_journals_what_was_asked_and_how_many_rows_matched(
    space: LocalSpace, exact: GatewayClient
) -> None:
    cutoff = "2024-01-10T00:00:00"
    job = exact.wait(exact.submit_job({"dataset": "steel_production", "kind": "count", "filters": [
        {"field": "ts", "op": "lt", "value": cutoff}]})["id"])  # fmt: skip
    for factory in space.factories:
        (entry,) = [
            e
            for e in Journal(factory.directory / "journal.jsonl").entries()
            if e.get("job_id") == job["id"] and e["event"] == "job_rows"
        ]
        assert entry["filters"] == [{"field": "ts", "op": "lt", "value": cutoff}]
        with factory.data_file.open(newline="", encoding="utf-8") as handle:
            stamps = [row["ts"] for row in csv.DictReader(handle) if row["ts"].strip()]
        matched = sum(1 for stamp in stamps if datetime.fromisoformat(stamp) < datetime.fromisoformat(cutoff))
        assert entry["matched_rows"] == matched
        assert entry["cells_contributed"] == (1 if matched >= 10 else 0)
        assert entry["rows_contributed"] == (matched if matched >= 10 else 0)


def test_in_distributed_mode_the_coordinator_never_holds_an_exact_sum(
    space: LocalSpace, private: GatewayClient
) -> None:
    spec = {"kind": "sum", "dataset": "steel_production", "field": ENERGY, "epsilon": 1.0}
    released = run(private, spec)["groups"][0]
    # What the coordinator would hold without the nodes' noise: every factory's gated statistics, encoded.
    job = JobSpec.model_validate(spec)
    exact = np.zeros(0, dtype=np.uint64)
    for factory in space.factories:
        dataset = load_config(factory.directory / "node.toml").dataset("steel_production")
        layout = vector_layout(job, dataset.schema)
        own = gate_cells(layout, local_vector(job, dataset.schema, dataset.paths, dataset.format), 10).vector
        encoded = fixedpoint.encode(own, scale_bits=16, ring_bits=64, max_parties=4)
        exact = encoded if exact.size == 0 else exact + encoded
    values = fixedpoint.decode(exact, scale_bits=16, ring_bits=64)
    exact_sum = float(values[1]) + float(values[0]) * (LO + HI) / 2
    assert exact_sum == pytest.approx(math.fsum(e for _, _, e in rows_of(space)), rel=1e-9)
    assert released["sum"] != pytest.approx(exact_sum, abs=1e-3)
    wire = b"".join(p.read_bytes() for p in sorted((space.workdir / "wire").glob("*.bin")))
    stored = b"".join(p.read_bytes() for p in space.coordinator_dir.rglob("*") if p.is_file())
    assert len(wire) > 0 and len(stored) > 0
    for secret in (
        exact[0].tobytes(),
        exact[1].tobytes(),
        repr(exact_sum).encode(),
        f"{exact_sum:.6f}".encode(),
    ):
        assert secret not in wire
        assert secret not in stored
