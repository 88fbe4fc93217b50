"""The demo's buyer-private input: a quality model scored under the buyer's own homomorphic key.

Every factory publishes its steel data again, now allowing ``encrypted_scoring``; a buyer with a private
defect-risk model (weights it would not show the factories) encrypts it under its own CKKS key, uploads the
encrypted query, and gets, per production line, the sums of its scores over all factories' rows — decrypted
only on its side. Each figure is printed beside the plaintext answer recomputed from the pooled files.
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np
from rich.console import Console
from rich.table import Table

from contracts.identity import make_participant_id
from contracts.schema import DatasetSchema
from coordinator.client.scoring import ScoringModel, feature_bounds, polynomials, prepare, read_scores
from coordinator.localspace.harness import LocalSpace
from protocols import he

DATASET = "steel_production"
SCORING_BUYER_ID = make_participant_id("91110000MA01DHE7R")
GROUP_BY = "line"
MODEL = ScoringModel.model_validate(
    {
        "features": ["furnace_temp_c", "scrap_ratio", "cycle_time_min"],
        "weights": [0.004, 3.0, 0.01],
        "bias": -7.5,
        "outputs": [
            {"name": "risk_score", "function": "sum"},
            {"name": "defect_probability", "function": "logistic", "degree": 3},
            {"name": "high_risk_heats", "function": "count_above", "threshold": 0.0},
        ],
    }
)


def scoring_scenario(
    space: LocalSpace, purpose: str, factories: list[dict[str, np.ndarray]], schema: DatasetSchema
) -> dict[str, Any]:
    """Offers allowing encrypted scoring, a contract, one scoring job: reported beside the plaintext."""
    kinds = ("--kind", "count", "--kind", "encrypted_scoring")
    offer_ids = [space.publish(f, "--purpose", purpose, *kinds, dataset=DATASET) for f in space.factories]
    bounds = feature_bounds(MODEL, schema)
    owner = he.KeyOwner(he.CKKS_8192, galois_keys=True)
    with space.enroll_buyer(SCORING_BUYER_ID) as buyer:
        buyer.contract_id = buyer.negotiate(offer_ids, purpose)
        prepared = prepare(MODEL, bounds, owner)
        started = time.monotonic()
        digest = buyer.upload_input(prepared.data)["digest"]
        spec = {"dataset": DATASET, "group_by": GROUP_BY, **prepared.spec_fields(MODEL, digest)}
        job = buyer.wait(buyer.submit_job(spec)["id"], timeout=300)
        if job["state"] != "SUCCEEDED":
            raise RuntimeError(f"encrypted scoring {job['id']} {job['state']}: {job['reason']}")
        result = buyer.result(job["id"])["result"]
        seconds = time.monotonic() - started
    rows = read_scores(result, MODEL, bounds, owner)
    plain = plaintext_scores(factories, schema)
    return {
        "job": job["id"],
        "contract": buyer.contract_id,
        "seconds": round(seconds, 3),
        "input_bytes": len(prepared.data),
        "rows": [row | {"plaintext": plain.get(row["group"], {})} for row in rows],
    }


def plaintext_scores(
    factories: list[dict[str, np.ndarray]], schema: DatasetSchema
) -> dict[Any, dict[str, float]]:
    """What the buyer would compute with every factory's rows in hand: its polynomials' sums per group."""
    columns = {name: np.concatenate([f[name] for f in factories]) for name in (*MODEL.features, GROUP_BY)}
    x = np.stack([columns[name] for name in MODEL.features], axis=1)
    keep = ~np.isnan(x).any(axis=1)
    scores = x[keep] @ np.array(MODEL.weights) + MODEL.bias
    groups = columns[GROUP_BY][keep]
    fs = polynomials(MODEL, feature_bounds(MODEL, schema))
    return {
        group: {"rows": float(np.sum(groups == group))}
        | {o.name: float(f(scores[groups == group]).sum()) for o, f in zip(MODEL.outputs, fs, strict=True)}
        for group in dict.fromkeys(groups.tolist())
    }


def print_scoring(report: dict[str, Any], console: Console) -> None:
    console.print(
        f"\n[bold]Encrypted scoring[/bold] {report['job']} under contract {report['contract']}: the buyer's "
        f"model ({len(MODEL.features)} features, {len(MODEL.outputs)} outputs) left its machine only "
        f"encrypted under its own CKKS key ({report['input_bytes'] / 2**20:.0f} MiB with the public "
        f"context); {report['seconds']:.1f} s",
        highlight=False,
    )
    table = Table("line", "output", "secure (decrypted by the buyer)", "pooled plaintext*", "stated error")
    for row in report["rows"]:
        if row.get("suppressed"):
            table.add_row(str(row["group"]), "—", "withheld", "", row.get("reason") or "")
            continue
        for name, figure in row["outputs"].items():
            error = figure["numeric_error"] + figure["approximation_error"] + 3 * figure["noise_std"]
            expected = row["plaintext"].get(name)
            table.add_row(
                str(row["group"]),
                name,
                f"{figure['value']:.6f}",
                "" if expected is None else f"{expected:.6f}",
                f"± {error:.2g}",
            )
    console.print(table)
    console.print(
        "  no factory saw the weights; the coordinator added masked ciphertexts it cannot read; "
        "logistic and threshold are degree-3 approximations (their fit error is in the stated error)."
    )
