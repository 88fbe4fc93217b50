"""``dataspace demo``: a coordinator and N factories on loopback compute joint statistics securely.

Each secure result is printed beside the pooled plaintext answer recomputed from all the files, a check
that only a demo, where one machine holds every factory's data, can make. Then what protects the output:
a cell that one factory alone stands behind is withheld, a contract with an epsilon budget gets noised
figures with their error, and a job past the budget is refused. Last, a record-level release: an offer's
desensitized preview, one extract job under a contract that names ``extract``, and its receipt.
"""

from __future__ import annotations

import json
import random
import shutil
import tempfile
import time
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from contracts.identity import make_participant_id
from contracts.schema import DatasetSchema
from coordinator.client.audit import render_trail, verify_local
from coordinator.client.gateway import GatewayClient, GatewayError
from coordinator.localspace.demo_check import CellRule, compare, pooled_answer, read_factory
from coordinator.localspace.demo_extract import extract_scenario, print_extract
from coordinator.localspace.demo_scoring import print_scoring, scoring_scenario
from coordinator.localspace.harness import BUYER_ID, LocalSpace
from coordinator.localspace.suppliers import (
    declare_codes_not_personal,
    holdings,
    print_supplier_overlap,
    supplier_overlap_scenario,
    write_supplier_table,
)
from protocols.tlog.checkpoint import parse_checkpoint
from protocols.tlog.note import split_note

DATASET = "steel_production"
PRIVATE_BUYER_ID = make_participant_id("91110000MA01DPB7R")
EPSILON_BUDGET, JOB_EPSILON = 2.0, 1.0
PURPOSE = "energy_benchmarking"
# Fixed-point error (16 fractional bits) is far below this; it absorbs float64 summation-order effects.
REL_TOL = 1e-6

DEMO_JOBS: list[dict[str, Any]] = [
    {"kind": "mean", "dataset": DATASET, "field": "furnace_temp_c"},
    {
        "kind": "histogram",
        "dataset": DATASET,
        "field": "defect_rate_pct",
        "bins": [0, 1, 2, 3, 5, 8, 13, 100],
    },
    {"kind": "variance", "dataset": DATASET, "field": "energy_kwh_per_t", "group_by": "process_step"},
    {
        "kind": "linear_regression",
        "dataset": DATASET,
        "features": ["furnace_temp_c", "scrap_ratio"],
        "target": "energy_kwh_per_t",
    },
]


def run_demo(*, workdir: Path | None, n_nodes: int, rows: int, as_json: bool) -> int:
    console = Console(stderr=as_json)
    keep = workdir is not None
    root = Path(workdir) if workdir is not None else Path(tempfile.mkdtemp(prefix="dataspace-demo-"))
    if keep and root.exists():
        shutil.rmtree(root)
    space = LocalSpace(root)
    try:
        report = _scenario(space, n_nodes, rows, console)
    except KeyboardInterrupt:
        console.print("[yellow]interrupted; shutting everything down[/yellow]")
        return 130
    finally:
        with console.status("stopping nodes and coordinator"):
            space.stop()
        if not keep:
            shutil.rmtree(root, ignore_errors=True)
    if as_json:
        print(json.dumps(report, indent=2, ensure_ascii=False))
    else:
        _print_report(report, console)
        if keep:
            console.print(f"\nEvery factory's data is kept under {root}/factories to recompute the answers.")
    return 0 if all(job["pooled_check"]["agrees"] for job in report["jobs"]) else 1


def _scenario(space: LocalSpace, n_nodes: int, rows: int, console: Console) -> dict[str, Any]:
    with console.status("starting the coordinator (operator CA, gateway, node service)"):
        space.start_coordinator()
    held = holdings(n_nodes)
    for i in range(n_nodes):
        with console.status(
            f"factory {i + 1}/{n_nodes}: sample data, its supplier table, config, enrollment"
        ):
            table = space.factory_dir(i) / "data" / "suppliers.csv"
            write_supplier_table(table, held[i], random.Random(i))
            factory = space.add_factory(i, rows, own_data={"suppliers": table})
            declare_codes_not_personal(factory.directory / "node.toml")
            space.confirm(factory, "suppliers")
            space.start_node(factory)
    with console.status("waiting for the factories to dial in over mutual TLS"):
        space.wait_for_nodes(n_nodes)
    with console.status("factories publish offers; the buyer proposes one contract; everyone signs"):
        buyer = space.contracted_buyer(BUYER_ID, "--purpose", PURPOSE)
        contract = buyer.contract(buyer.contract_id or "")
    with buyer:
        schema = DatasetSchema.model_validate(
            next(d for d in buyer.datasets() if d["name"] == DATASET)["schema"]
        )
        factories = [read_factory([f.data_file], schema) for f in space.factories]
        jobs = []
        for spec in DEMO_JOBS:
            with console.status(f"secure {spec['kind']} across {n_nodes} factories"):
                started = time.monotonic()
                job = buyer.wait(buyer.submit_job(spec)["id"], timeout=300)
                seconds = time.monotonic() - started
            if job["state"] != "SUCCEEDED":
                raise RuntimeError(f"job {job['id']} {job['state']}: {job['reason']}")
            result = buyer.result(job["id"])["result"]
            expected = pooled_answer(spec, factories, schema, CellRule())
            problems = compare(result, expected, REL_TOL)
            jobs.append(
                {
                    "id": job["id"],
                    "kind": spec["kind"],
                    "spec": spec,
                    "result": result,
                    "seconds": round(seconds, 3),
                    "pooled_check": {"answer": expected, "agrees": not problems, "differences": problems},
                }
            )
        refused = _refused_job(buyer)
        with console.status("a buyer probes the first week, when one factory ran alone"):
            withheld = _withheld_job(buyer)
    with console.status("a second buyer, under an epsilon budget, gets noised figures until it is spent"):
        private = _private_jobs(space, factories, schema)
    with console.status("factories publish extract terms with a desensitized preview; one extract runs"):
        extract = extract_scenario(space, PURPOSE)
    with console.status("a buyer scores its private model under its own homomorphic key"):
        scoring = scoring_scenario(space, PURPOSE, factories, schema)
    with console.status("a buyer counts the suppliers it shares with the factories, keeping its list"):
        suppliers = supplier_overlap_scenario(space, "supply_chain_planning", held, space.workdir)
    with console.status("waiting for every factory to witness the audit log, then verifying it"):
        audit = _audit(space, n_nodes, jobs[0]["id"])
    return {
        "factories": [f.participant_id for f in space.factories],
        "rows_per_factory": rows,
        "contract": {
            "id": contract["contract_id"],
            "purpose": contract["purpose"],
            "state": contract["negotiation"]["stage"],
            "signed_by": [sig["party"] for sig in contract["signatures"]],
            "countersigned_by": (contract["countersignature"] or {}).get("party"),
        },
        "jobs": jobs,
        "refused_job": refused,
        "withheld_job": withheld,
        "private": private,
        "extract": extract,
        "scoring": scoring,
        "suppliers": suppliers,
        "audit": audit,
    }


def _refused_job(buyer: GatewayClient) -> dict[str, Any]:
    """A job the contract does not allow: personal information never leaves a factory."""
    spec = {"kind": "mean", "dataset": DATASET, "field": "operator_name"}
    try:
        buyer.submit_job(spec)
    except GatewayError as refusal:
        details = refusal.details or {}
        return {"spec": spec, "status": refusal.status, "code": refusal.code,
                "constraint": details.get("constraint"), "message": refusal.message}  # fmt: skip
    raise RuntimeError("the gateway accepted a job on a personal field")


def _withheld_job(buyer: GatewayClient) -> dict[str, Any]:
    """Factories start a week apart: before the second one starts, a figure would be the first one's alone."""
    spec = {"kind": "mean", "dataset": DATASET, "field": "energy_kwh_per_t",
            "filters": [{"field": "ts", "op": "lt", "value": "2024-01-08T00:00:00"}]}  # fmt: skip
    job = buyer.wait(buyer.submit_job(spec)["id"], timeout=300)
    (group,) = buyer.result(job["id"])["result"]["groups"]
    if not group.get("suppressed"):
        raise RuntimeError("a single factory's week was released")
    return {"spec": spec, "group": group}


def _private_jobs(
    space: LocalSpace, factories: list[dict[str, Any]], schema: DatasetSchema
) -> dict[str, Any]:
    """Noised means (distributed noise from the nodes) until the contract's epsilon budget refuses one."""
    spec = {"kind": "mean", "dataset": DATASET, "field": "energy_kwh_per_t", "epsilon": JOB_EPSILON}
    truth = pooled_answer(spec, factories, schema, CellRule())["groups"][0]["mean"]
    args = ("--purpose", PURPOSE, "--epsilon", str(EPSILON_BUDGET))
    released: list[dict[str, Any]] = []
    with space.contracted_buyer(PRIVATE_BUYER_ID, *args) as buyer:
        for _ in range(20):
            try:
                job = buyer.submit_job(spec)
            except GatewayError as refusal:
                usage = buyer.contract_usage(buyer.contract_id or "")
                details = refusal.details or {}
                return {"spec": spec, "budget": EPSILON_BUDGET, "truth": truth, "released": released,
                        "usage": usage, "refusal": {"status": refusal.status, "code": refusal.code,
                                                    "constraint": details.get("constraint"),
                                                    "message": refusal.message}}  # fmt: skip
            done = buyer.wait(job["id"], timeout=300)
            result = buyer.result(done["id"])["result"]
            (group,) = result["groups"]
            released.append(
                {"mean": group["mean"], "error": group["error"]["mean"], "privacy": result["privacy"]}
            )
    raise RuntimeError("the epsilon budget never ran out")


def _audit(space: LocalSpace, n_nodes: int, job_id: str) -> dict[str, Any]:
    """Wait until all nodes cosigned the latest checkpoint, verify the whole log, tell one job's story."""
    deadline = time.monotonic() + 20
    with space.operator() as operator:
        while True:
            size = len(operator.audit_entries())
            note = operator.audit_checkpoint()["note"]
            checkpoint = parse_checkpoint(split_note(note)[0])
            cosigners = len(split_note(note)[1]) - 1
            if (checkpoint.size >= size and cosigners >= n_nodes) or time.monotonic() > deadline:
                break
            time.sleep(0.3)
        story = operator.audit_entries(subject=f"job:{job_id}")
    return {
        "verified": verify_local(space.coordinator_dir, None),
        "checkpoint_size": checkpoint.size,
        "cosigned_by": cosigners,
        "job_story": {"job": job_id, "trail": render_trail(story)},
    }


def _print_report(report: dict[str, Any], console: Console) -> None:
    contract = report["contract"]
    console.print(
        f"\n[bold]Usage contract[/bold] {contract['id']} for {contract['purpose']}: {contract['state']}, "
        f"signed by the buyer and {len(contract['signed_by']) - 1} factories, "
        f"countersigned by the {contract['countersigned_by']}"
    )
    console.print(
        f"\n[bold]Joint analyses across {len(report['factories'])} factories[/bold] "
        f"({report['rows_per_factory']} rows each; no row left its factory)\n"
    )
    for job in report["jobs"]:
        table = Table(
            title=f"{job['kind']}  {_describe(job['spec'])}  ({job['seconds']} s)", title_justify="left"
        )
        table.add_column("statistic")
        table.add_column("secure result", justify="right")
        table.add_column("pooled check*", justify="right")
        for name, secure, pooled in _rows(job):
            table.add_row(name, secure, pooled)
        console.print(table)
        verdict = "[green]agrees[/green]" if job["pooled_check"]["agrees"] else "[red]DIFFERS[/red]"
        console.print(f"  {verdict}  {'; '.join(job['pooled_check']['differences'])}\n")
    console.print("* pooled check: recomputed from all factories' files at once, which only a demo can do.")
    refused = report["refused_job"]
    console.print(
        f"\n[bold]Refused[/bold] {refused['spec']['kind']} of {refused['spec']['field']}: "
        f"HTTP {refused['status']} {refused['code']} ({refused['constraint']}) — {refused['message']}"
    )
    withheld = report["withheld_job"]
    console.print(
        f"\n[bold]Withheld[/bold] mean of energy before 2024-01-08 (one factory ran alone): "
        f"{withheld['group']['code']} — {withheld['group']['reason']}"
    )
    _print_private(report["private"], console)
    print_extract(report["extract"], console)
    print_scoring(report["scoring"], console)
    print_supplier_overlap(report["suppliers"], console)
    audit = report["audit"]
    console.print(f"\n[bold]Audit log[/bold]: {audit['verified']}")
    console.print(f"latest checkpoint covers {audit['checkpoint_size']} entries, cosigned by "
                  f"{audit['cosigned_by']} factory witnesses")  # fmt: skip
    console.print(f"story of job {audit['job_story']['job']}:")
    for line in audit["job_story"]["trail"]:
        console.print("  " + line, highlight=False)


def _print_private(private: dict[str, Any], console: Console) -> None:
    console.print(
        f"\n[bold]Differential privacy[/bold]: a contract with an epsilon budget of {private['budget']:g}; "
        f"each job spends epsilon {private['spec']['epsilon']:g}, composed in zCDP"
    )
    for i, job in enumerate(private["released"], start=1):
        privacy = job["privacy"]
        console.print(
            f"  job {i}: mean energy {job['mean']:.3f} ± {job['error']:.3f} kWh/t "
            f"(epsilon {privacy['epsilon']:g}, delta {privacy['delta']:g}, {privacy['mechanism']}, "
            f"{privacy['mode']} noise); exact pooled value {private['truth']:.3f}",
            highlight=False,
        )
    refusal, usage = private["refusal"], private["usage"]
    console.print(
        f"  next job refused: HTTP {refusal['status']} {refusal['code']} ({refusal['constraint']}) — "
        f"{usage['jobs_run']} jobs spent epsilon {usage['epsilon_spent']:.3f} of {private['budget']:g}",
        highlight=False,
    )


def _describe(spec: dict[str, Any]) -> str:
    if spec["kind"] == "linear_regression":
        return f"{spec['target']} ~ {' + '.join(spec['features'])}"
    text = spec.get("field") or ""
    return text + (f" by {spec['group_by']}" if spec.get("group_by") else "")


def _rows(job: dict[str, Any]) -> list[tuple[str, str, str]]:
    result, expected = job["result"], job["pooled_check"]["answer"]
    if job["kind"] == "linear_regression":
        rows = [("n", str(result["n"]), str(expected["n"]))]
        for name, value in expected["coefficients"].items():
            rows.append(
                (
                    f"β {name}",
                    f"{result['coefficients'][name]:.6g} ± {result['std_errors'][name]:.3g}",
                    f"{value:.6g} ± {expected['std_errors'][name]:.3g}",
                )
            )
        rows.append(("R²", f"{result['r_squared']:.6f}", f"{expected['r_squared']:.6f}"))
        return rows
    rows = []
    for secure, pooled in zip(result["groups"], expected["groups"], strict=True):
        label = secure["group"] or "all"
        for key, value in pooled.items():
            if key != "group":
                rows.append((f"{label}: {key}", _fmt(secure.get(key)), _fmt(value)))
    return rows


def _fmt(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.6f}"
    if isinstance(value, list):
        return " ".join(str(v) for v in value)
    return str(value)
