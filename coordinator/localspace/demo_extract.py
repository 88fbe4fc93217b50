"""The demo's record-level release: previews in the catalogue, one extract job, and its receipt.

Every factory publishes its steel data again, now with extract terms (a rule per released field,
quasi-identifiers, k and l) and a preview its node desensitized; a buyer's contract names ``extract``, and
one extract job returns rows that are desensitized and k-anonymous, with a receipt in the audit log.
"""

from __future__ import annotations

import json
from typing import Any

from rich.console import Console
from rich.table import Table

from contracts.identity import make_participant_id
from coordinator.localspace.harness import LocalSpace

DATASET = "steel_production"
EXTRACT_BUYER_ID = make_participant_id("91110000MA01DEX7R")
QUASI_IDENTIFIERS = ["line", "shift", "process_step", "throughput_t_per_h"]
EXTRACT_TERMS: dict[str, Any] = {
    "rules": {
        "fields": {
            "ts": {"op": "date_shift", "entity_field": "heat_id", "max_days": 30},
            "line": {"op": "keep"},
            "shift": {"op": "keep"},
            "process_step": {"op": "keep"},
            "throughput_t_per_h": {"op": "keep"},
            "energy_kwh_per_t": {"op": "bucket", "width": 10},
            "defect_rate_pct": {"op": "keep"},
            "scrap_ratio": {"op": "keep"},
            "cycle_time_min": {"op": "bucket", "width": 5},
        }
    },
    "quasi_identifiers": [
        {"field": "line"},
        {"field": "shift"},
        {"field": "process_step"},
        {"field": "throughput_t_per_h", "hierarchy": {"widths": [10, 50, 100, 500]}},
    ],
    "k": 5,
    "l": 2,
    "sensitive": "defect_rate_pct",
}
EXTRACT_SPEC: dict[str, Any] = {
    "kind": "extract",
    "dataset": DATASET,
    "columns": [*QUASI_IDENTIFIERS, "ts", "energy_kwh_per_t", "defect_rate_pct"],
    "filters": [{"field": "process_step", "op": "in", "value": ["LF", "RH"]}],
}


def extract_scenario(space: LocalSpace, purpose: str) -> dict[str, Any]:
    """Publish extract offers with previews, contract for ``extract``, run one extract; report all three."""
    offer_ids = [_publish(space, index, purpose) for index in range(len(space.factories))]
    with space.enroll_buyer(EXTRACT_BUYER_ID) as buyer:
        buyer.contract_id = buyer.negotiate(offer_ids, purpose)
        preview = next(o for o in buyer.offers() if o["offer_id"] == offer_ids[0])["preview"]
        job = buyer.wait(buyer.submit_job(EXTRACT_SPEC)["id"], timeout=300)
        if job["state"] != "SUCCEEDED":
            raise RuntimeError(f"extract {job['id']} {job['state']}: {job['reason']}")
        result = buyer.result(job["id"])["result"]
    with space.operator() as operator:
        [receipt] = operator.audit_entries(subject=f"job:{job['id']}", kind="extract.released")
    return {
        "offer": offer_ids[0],
        "preview": preview,
        "contract": buyer.contract_id,
        "job": job["id"],
        "spec": EXTRACT_SPEC,
        "row_count": result["row_count"],
        "k": result["k"],
        "l": result["l"],
        "sample": result["rows"][:5],
        "receipt": receipt["payload"],
    }


def _publish(space: LocalSpace, index: int, purpose: str) -> str:
    """``dataspace-node publish --extract``: the offer with extract terms, and its preview, from the node."""
    factory = space.factories[index]
    terms = factory.directory / "extract_terms.json"
    terms.write_text(json.dumps(EXTRACT_TERMS), encoding="utf-8")
    kinds = ["--kind", "mean", "--kind", "extract"]
    return space.publish(factory, "--purpose", purpose, "--extract", str(terms), *kinds, dataset=DATASET)


def print_extract(report: dict[str, Any], console: Console) -> None:
    console.print(
        f"\n[bold]Desensitized preview[/bold] of offer {report['offer']} "
        "(made by its factory's node with the offer's rules; checked for personal data by the coordinator)"
    )
    console.print(_table(report["preview"]["rows"]))
    receipt = report["receipt"]
    console.print(
        f"[bold]Extract[/bold] {report['job']} under contract {report['contract']}: {report['row_count']} "
        f"rows from {len(receipt['nodes'])} factories, k = {report['k']} (required {receipt['k_required']}) "
        f"on {', '.join(QUASI_IDENTIFIERS)}, l = {report['l']} on defect_rate_pct; the first rows:",
        highlight=False,
    )
    console.print(_table(report["sample"]))
    console.print("[bold]Receipt[/bold] (audit entry extract.released):")
    console.print(
        f"  rules digest {receipt['rules_digest'][:16]}…, output digest {receipt['output_digest'][:16]}…"
    )
    operators = ", ".join(f"{name} {op}" for name, op in receipt["operators"].items())
    console.print(f"  rules applied: {operators}", highlight=False)
    for part in receipt["nodes"]:
        generalized = ", ".join(f"{name} {step}" for name, step in part["generalized"].items()) or "nothing"
        console.print(
            f"  {part['participant']}: read {part['input_rows']} rows (digest {part['input_digest'][:12]}…), "
            f"dropped {part['incomplete']} incomplete, suppressed {part['suppressed']}, "
            f"sent {part['rows']} (digest {part['output_digest'][:12]}…); generalized {generalized}",
            highlight=False,
        )


def _table(rows: list[dict[str, Any]]) -> Table:
    table = Table(title_justify="left")
    columns = list(rows[0]) if rows else []
    for name in columns:
        table.add_column(name)
    for row in rows:
        table.add_row(*(str(row[name]) for name in columns))
    return table
