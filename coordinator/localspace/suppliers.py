"""Supplier tables for the local space, and the demo's supplier-overlap job (private set intersection).

Each factory keeps a table of the companies it buys from, their unified social credit codes written as its
own ERP writes them (lower case, hyphens, full-width digits); a buyer asks how many of its own suppliers
the factories also buy from. The buyer's list stays in its client and each factory's codes on its node:
the buyer learns only the total over the cohort, printed here beside the count from Python sets.
"""

from __future__ import annotations

import csv
import random
import re
from pathlib import Path
from typing import Any

from rich.console import Console

from contracts.identity import make_participant_id
from coordinator.client.psi import Responder, read_keys
from coordinator.localspace.harness import LocalSpace
from protocols.psi.normalize import canonical_key

DATASET = "suppliers"
KEY_FIELD = "supplier_code"
NORMALIZATION = "credit_code"
SUPPLIER_BUYER_ID = make_participant_id("91110000MA01DPX7R")
# 120 valid codes (the check character computed); each factory buys from 60 of them, the buyer from 50.
POOL = tuple(make_participant_id(f"9132{n:013d}") for n in range(120))
_FULL_WIDTH = str.maketrans("0123456789", "０１２３４５６７８９")


def written_as_erp(code: str, rng: random.Random) -> str:
    """The same code as different ERP systems write it."""
    return rng.choice([code, code.lower(), f" {code[:6]}-{code[6:]} ", code.translate(_FULL_WIDTH)])


def write_supplier_table(path: Path, codes: list[str], rng: random.Random) -> Path:
    """A purchase table: some suppliers appear on two rows, as real purchase ledgers have them."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow([KEY_FIELD, "material_grade", "purchase_cost_cny"])
        for code in codes + rng.sample(codes, 5):
            writer.writerow(
                [written_as_erp(code, rng), rng.choice(["ore", "coal", "alloy"]), rng.randint(1, 10**7)]
            )
    return path


def declare_codes_not_personal(config: Path, field: str = KEY_FIELD) -> None:
    """The factory's own decision before it confirms: its suppliers' codes name companies, not people.

    ``init`` may propose a text column of credit codes as personal (a sole trader's code names a person);
    a factory that knows its suppliers are companies edits the proposal, as the README says, then confirms.
    """
    text = config.read_text(encoding="utf-8")
    start = text.index(f'name = "{field}"')
    end = text.find("[[datasets.fields]]", start)
    end = len(text) if end < 0 else end
    block = re.sub(r'personal = \w+\ngrade = "\w+"', 'personal = false\ngrade = "general"', text[start:end])
    config.write_text(text[:start] + block + text[end:], encoding="utf-8")


def holdings(factories: int, seed: int = 7) -> list[list[str]]:
    rng = random.Random(seed)
    return [rng.sample(POOL, 60) for _ in range(factories)]


def overlap(held: list[list[str]], buyer_codes: list[str], min_rows: int) -> int:
    """Σ_f |B ∩ F_f| with Python sets, a factory with fewer than ``min_rows`` common codes counting 0."""
    mine = {canonical_key(NORMALIZATION, code) for code in buyer_codes}
    counts = [len(mine & set(codes)) for codes in held]
    return sum(c for c in counts if c >= min_rows)


def supplier_overlap_scenario(
    space: LocalSpace, purpose: str, held: list[list[str]], workdir: Path, min_rows: int = 10
) -> dict[str, Any]:
    """Offers allowing the count, a contract, one job answered by the buyer's client; beside Python sets."""
    kinds = ("--kind", "psi_cardinality", "--kind", "count")
    offers = [space.publish(f, "--purpose", purpose, *kinds, dataset=DATASET) for f in space.factories]
    codes = random.Random(11).sample(POOL, 50)
    keys_file = workdir / "buyer-suppliers.csv"
    rng = random.Random(3)
    keys_file.write_text("credit_code\n" + "".join(written_as_erp(c, rng) + "\n" for c in codes), "utf-8")
    responder = Responder(read_keys(keys_file, NORMALIZATION))
    with space.enroll_buyer(SUPPLIER_BUYER_ID) as buyer:
        buyer.contract_id = buyer.negotiate(offers, purpose)
        spec = {"kind": "psi_cardinality", "dataset": DATASET, "key_field": KEY_FIELD,
                "normalization": NORMALIZATION}  # fmt: skip
        job_id = buyer.submit_job(spec)["id"]

        def answer(_seen: dict[str, Any], _waited: float) -> None:
            responder.answer(buyer, job_id)  # the buyer's client answers while it waits

        job = buyer.wait(job_id, timeout=300, progress=answer)
        if job["state"] != "SUCCEEDED":
            raise RuntimeError(f"supplier overlap {job_id} {job['state']}: {job['reason']}")
        result = buyer.result(job_id)["result"]
    return {
        "job": job_id,
        "contract": buyer.contract_id,
        "buyer_keys": len(responder.keys.keys),
        "total": result["groups"][0].get("n"),
        "contributors": result["groups"][0].get("contributors"),
        "plaintext": overlap(held, codes, min_rows),
    }


def print_supplier_overlap(report: dict[str, Any], console: Console) -> None:
    agrees = "[green]agrees[/green]" if report["total"] == report["plaintext"] else "[red]differs[/red]"
    console.print(
        f"\n[bold]Supplier overlap[/bold] (private set intersection) {report['job']}: of the buyer's "
        f"{report['buyer_keys']} suppliers, the {report['contributors']} factories buy from "
        f"{report['total']} in total; pooled plaintext* {report['plaintext']} {agrees}. The codes never left "
        "the buyer's client or the factories' nodes; each factory learnt only its own count, the buyer only "
        "the total.",
        highlight=False,
    )
