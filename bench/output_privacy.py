"""What output privacy costs: cohort indicators and differential-privacy noise, against the same work without.

In the same run, with real node processes and gRPC on loopback:
  - the secure round at the vector length a job needs with its cohort indicators vs. without them
    (operator diagnostic secure sums of D_terms + D_cells vs. D_terms elements, median wall time);
  - whole jobs under a contract with an epsilon budget (each node adds its noise share) vs. the same
    jobs under a contract without one (median wall time from submission to result);
  - in process, a node's gating and noise sampling vs. its DuckDB computation of the same job.
Writes bench/results/output_privacy.json.  Usage: python bench/output_privacy.py [--repeats R] [--quick]
"""

from __future__ import annotations

import argparse
import functools
import json
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from contracts.identity import make_participant_id  # noqa: E402
from contracts.jobspec import JobSpec, vector_layout  # noqa: E402
from contracts.noise import plan_noise  # noqa: E402
from contracts.privacy import PrivacyTerms, gate_cells  # noqa: E402
from coordinator.client.gateway import GatewayClient  # noqa: E402
from coordinator.localspace.harness import LocalSpace  # noqa: E402
from node.config import load_config  # noqa: E402
from node.local_compute import local_vector  # noqa: E402
from protocols import fixedpoint  # noqa: E402
from protocols.dp.samplers import system_random  # noqa: E402

DATASET = "steel_production"
JOBS: dict[str, dict[str, Any]] = {
    "mean by process_step": {"kind": "mean", "field": "energy_kwh_per_t", "group_by": "process_step"},
    "histogram 100 bins by line": {
        "kind": "histogram",
        "field": "furnace_temp_c",
        "bins": [1400 + 4 * i for i in range(101)],
        "group_by": "line",
    },
    "regression 3 features": {
        "kind": "linear_regression",
        "features": ["furnace_temp_c", "scrap_ratio", "throughput_t_per_h"],
        "target": "energy_kwh_per_t",
    },
}


def median_seconds(action: Callable[[], object], repeats: int) -> float:
    action()  # warm-up
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        action()
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def run_job(buyer: GatewayClient, spec: dict[str, Any]) -> None:
    job = buyer.wait(buyer.submit_job({"dataset": DATASET, **spec})["id"], timeout=300, poll=0.01)
    if job["state"] != "SUCCEEDED":
        raise RuntimeError(f"{job['id']} {job['state']}: {job['reason']}")


def secure_round(operator: GatewayClient, n: int, dimension: int, repeats: int) -> float:
    spec = {"dimension": dimension, "participants": n, "protocol": "secagg", "ring_bits": 64}
    return median_seconds(lambda: operator.diagnostic({**spec, "seed": 1}), repeats)


def in_process(space: LocalSpace, spec: dict[str, Any], repeats: int, n: int) -> dict[str, float]:
    """One node's DuckDB work vs. its gating and its noise share for the same job."""
    dataset = load_config(space.factories[0].directory / "node.toml").dataset(DATASET)
    job = JobSpec.model_validate({"dataset": DATASET, "epsilon": 1.0, **spec})
    layout = vector_layout(job, dataset.schema)
    values = local_vector(job, dataset.schema, dataset.paths, dataset.format)
    plan = plan_noise(job, layout, PrivacyTerms(), n)
    assert plan is not None
    rng = system_random()
    compute = median_seconds(
        lambda: local_vector(job, dataset.schema, dataset.paths, dataset.format), repeats
    )
    gate = median_seconds(lambda: gate_cells(layout, values, 10), repeats)
    encoded = fixedpoint.encode(values, scale_bits=16, ring_bits=64, max_parties=n)
    noise = median_seconds(lambda: encoded + plan.sample(layout, rng), repeats)
    return {"compute_ms": compute * 1e3, "gate_ms": gate * 1e3, "noise_ms": noise * 1e3}


def measure(space: LocalSpace, n: int, repeats: int) -> list[dict[str, Any]]:
    publish = ("--purpose", "quality_improvement", "--max-jobs", "100000")
    rows = []
    with (
        space.operator() as operator,
        space.contracted_buyer(make_participant_id("91110000MA01BNX7R"), *publish) as exact,
        space.contracted_buyer(make_participant_id("91110000MA01BNY7R"), *publish, "--epsilon", "1e3") as dp,
    ):
        operator.http.timeout = 300
        for name, spec in JOBS.items():
            layout = vector_layout(JobSpec.model_validate({"dataset": DATASET, **spec}), space_schema(space))
            terms = len(layout.groups) * len(layout.terms)
            with_cells = secure_round(operator, n, layout.length, repeats)
            without = secure_round(operator, n, terms, repeats)
            plain = median_seconds(functools.partial(run_job, exact, spec), repeats)
            noised = median_seconds(functools.partial(run_job, dp, {**spec, "epsilon": 1.0}), repeats)
            rows.append(
                {
                    "job": name,
                    "n": n,
                    "terms": terms,
                    "length": layout.length,
                    "round_with_indicators_s": with_cells,
                    "round_without_s": without,
                    "indicators_ratio": with_cells / without,
                    "job_noised_s": noised,
                    "job_exact_s": plain,
                    "noise_ratio": noised / plain,
                    **in_process(space, spec, repeats, n),
                }
            )
    return rows


def space_schema(space: LocalSpace) -> Any:
    return load_config(space.factories[0].directory / "node.toml").dataset(DATASET).schema


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--quick", action="store_true", help="3 nodes, 2,000 rows each")
    args = parser.parse_args()
    n, rows_per_factory = (3, 2000) if args.quick else (4, 20_000)
    with tempfile.TemporaryDirectory(prefix="bench-privacy-") as tmp:
        space = LocalSpace(Path(tmp), extra_env={"DATASPACE_LOG_LEVEL": "WARNING"})
        try:
            space.start_coordinator()
            for i in range(n):
                space.start_node(space.add_factory(i, rows=rows_per_factory))
            space.wait_for_nodes(n)
            rows = measure(space, n, args.repeats)
        finally:
            space.stop()
    columns = [
        ("job", "job", "<28", ""),
        ("len", "length", ">5", ""),
        ("round+ind s", "round_with_indicators_s", ">11", ".4f"),
        ("round s", "round_without_s", ">8", ".4f"),
        ("ratio", "indicators_ratio", ">6", ".2f"),
        ("job+noise s", "job_noised_s", ">11", ".4f"),
        ("job s", "job_exact_s", ">7", ".4f"),
        ("ratio", "noise_ratio", ">6", ".2f"),
        ("duckdb ms", "compute_ms", ">9", ".2f"),
        ("gate ms", "gate_ms", ">8", ".3f"),
        ("noise ms", "noise_ms", ">8", ".2f"),
    ]
    print(" ".join(f"{title:{align}}" for title, _, align, _ in columns))
    for r in rows:
        print(" ".join(f"{r[key]:{align}{fmt}}" for _, key, align, fmt in columns))
    out = ROOT / "bench" / "results" / "output_privacy.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    payload = {"benchmark": "output_privacy", "nodes": n, "rows_per_factory": rows_per_factory,
               "repeats": args.repeats, "rows": rows}  # fmt: skip
    out.write_text(json.dumps(payload, indent=2))
    print(f"wrote {out.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
