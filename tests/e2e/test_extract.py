"""Desensitized extracts across real node processes: previews in the catalogue, rows released under a
contract that names ``extract``, receipts in the audit log, and a node's leak caught by the coordinator.

Three factories publish the steel sample data with extract terms; a fourth runs a test-only node program
that plants a raw mobile number in one column of its extracts (``tests.support.leaky_node``).
"""

from __future__ import annotations

import csv
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from contracts.desensitize import k_anonymity, l_diversity
from contracts.extracts.terms import ExtractTerms
from contracts.identity import make_participant_id
from coordinator.client.gateway import GatewayClient, GatewayError
from coordinator.localspace.demo_extract import EXTRACT_TERMS, QUASI_IDENTIFIERS
from coordinator.localspace.harness import LocalSpace
from node.journal import Journal
from tests.support.leaky_node import LEAK_ENV, PHONE

from .conftest import ROWS, start_space

pytestmark = pytest.mark.e2e
DATASET = "steel_production"
PURPOSE = "quality_improvement"
BUYER = make_participant_id("91110000MA01EXTB0")
LEAKED_COLUMN = "cycle_time_min"
QIS = QUASI_IDENTIFIERS
TERMS = ExtractTerms.model_validate(EXTRACT_TERMS)  # the demo's, so the demo's release is tested
COLUMNS = [*QIS, "ts", "energy_kwh_per_t", "defect_rate_pct", "scrap_ratio"]
SPEC: dict[str, Any] = {
    "kind": "extract",
    "dataset": DATASET,
    "columns": COLUMNS,
    "filters": [{"field": "process_step", "op": "in", "value": ["LF", "RH"]}],
}
BUCKET = re.compile(r"^\[\d+, \d+\)$")


class Extracts:
    def __init__(self, space: LocalSpace, offers: list[str], buyer: GatewayClient) -> None:
        self.space, self.offers, self.buyer = space, offers, buyer
        self.clean = buyer.negotiate(offers[:3], PURPOSE)  # the three honest factories
        self.with_leaky = buyer.negotiate(offers, PURPOSE)  # and the one that leaks

    def run(self, contract_id: str, spec: dict[str, Any]) -> dict[str, Any]:
        self.buyer.contract_id = contract_id
        return self.buyer.wait(self.buyer.submit_job(spec)["id"], timeout=120)


@pytest.fixture(scope="module")
def extracts(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Extracts]:
    space = start_space(tmp_path_factory.mktemp("extract"), 3)
    try:
        leaky = space.add_factory(3, ROWS)
        space.start_node(leaky, {LEAK_ENV: LEAKED_COLUMN}, module="tests.support.leaky_node")
        space.wait_for_nodes(4)
        terms = space.workdir / "extract_terms.json"
        terms.write_text(TERMS.model_dump_json(), encoding="utf-8")
        kinds = ["--kind", "count", "--kind", "mean", "--kind", "extract"]
        offers = [
            space.publish(f, "--purpose", PURPOSE, "--extract", str(terms), *kinds, dataset=DATASET)
            for f in space.factories
        ]
        with space.enroll_buyer(BUYER) as buyer:
            yield Extracts(space, offers, buyer)
    finally:
        space.stop()


def test_offers_show_a_desensitized_preview_in_the_catalogue(extracts: Extracts) -> None:
    listed = {offer["offer_id"]: offer for offer in extracts.buyer.offers()}
    for offer_id in extracts.offers:
        preview = listed[offer_id]["preview"]
        assert len(preview["rows"]) == 5
        for row in preview["rows"]:
            assert set(row) == set(TERMS.released())
            assert all(row[c] is None or BUCKET.match(row[c]) for c in ("energy_kwh_per_t", "cycle_time_min"))
        assert preview["receipt"]["k"] >= TERMS.k
    with extracts.space.operator() as operator:
        published = operator.audit_entries(kind="preview.published")
    assert {entry["subjects"]["offer"] for entry in published} >= set(extracts.offers)


def test_an_extract_releases_desensitized_k_anonymous_rows_with_a_receipt(extracts: Extracts) -> None:
    job = extracts.run(extracts.clean, SPEC)
    assert job["state"] == "SUCCEEDED", job["reason"]
    result = extracts.buyer.result(job["id"])["result"]
    rows = result["rows"]
    assert rows and result["row_count"] == len(rows) and result["contributors"] == 3
    for row in rows:
        assert set(row) == set(COLUMNS)  # never furnace_temp_c (important), heat_id or operators (core)
        assert row["process_step"] in {"LF", "RH", "*"}
        assert row["energy_kwh_per_t"] is None or BUCKET.match(row["energy_kwh_per_t"])  # sensors drop out
    assert k_anonymity(rows, QIS) >= TERMS.k and l_diversity(rows, QIS, "defect_rate_pct") >= 2
    raw = _raw_timestamps(extracts.space)
    assert sum(row["ts"] in raw for row in rows) < len(rows) / 10  # shifted by a keyed number of days

    with extracts.space.operator() as operator:
        [receipt] = operator.audit_entries(subject=f"job:{job['id']}", kind="extract.released")
        story = [entry["kind"] for entry in operator.audit_entries(subject=f"job:{job['id']}")]
    payload = receipt["payload"]
    assert payload["rows"] == len(rows) and payload["contract"] == extracts.clean
    assert payload["k"] >= TERMS.k and payload["operators"]["energy_kwh_per_t"] == "bucket"
    assert len(payload["nodes"]) == 3 and all(part["input_digest"] for part in payload["nodes"])
    assert story[:4] == ["job.submitted", "job.started", "extract.released", "job.succeeded"]
    sent = [
        e for f in extracts.space.factories[:3] for e in _journal(f.directory) if e["event"] == "extract_sent"
    ]
    assert sorted(e["receipt"]["output_digest"] for e in sent if e["job_id"] == job["id"]) == sorted(
        part["output_digest"] for part in payload["nodes"]
    )


def test_an_extract_under_a_contract_that_does_not_name_it_is_refused(extracts: Extracts) -> None:
    # Its offers declare no extract terms, so the default buyer's contract cannot name the kind.
    with extracts.space.buyer() as buyer, pytest.raises(GatewayError) as refused:
        buyer.submit_job(SPEC)
    assert (refused.value.status, refused.value.code) == (403, "policy_violation")
    assert (refused.value.details or {}).get("constraint") == "job_kind"


def test_a_raw_phone_number_from_a_node_blocks_the_release(extracts: Extracts) -> None:
    job = extracts.run(extracts.with_leaky, {**SPEC, "columns": [*COLUMNS, LEAKED_COLUMN]})
    assert job["state"] == "FAILED"
    reason = job["reason"] or ""
    assert reason.startswith("personal_data_detected") and LEAKED_COLUMN in reason and "mobile" in reason
    assert PHONE not in reason
    leaky = extracts.space.factories[3].participant_id
    with extracts.space.operator() as operator:
        [failed] = operator.audit_entries(subject=f"job:{job['id']}", kind="job.failed")
        assert operator.audit_entries(subject=f"job:{job['id']}", kind="extract.released") == []
    assert failed["payload"]["details"] == {"node": leaky, "field": LEAKED_COLUMN, "kind": "mobile",
                                            "row": failed["payload"]["details"]["row"]}  # fmt: skip
    with pytest.raises(GatewayError):
        extracts.buyer.result(job["id"])
    # Without the column it leaks, the same four factories' extract is released.
    clean = extracts.run(extracts.with_leaky, SPEC)
    assert clean["state"] == "SUCCEEDED", clean["reason"]


def _journal(directory: Path) -> list[dict[str, Any]]:
    return list(Journal(directory / "journal.jsonl").entries())


def _raw_timestamps(space: LocalSpace) -> set[str]:
    stamps: set[str] = set()
    for factory in space.factories:
        with factory.data_file.open(encoding="utf-8") as handle:
            stamps |= {row["ts"].replace(" ", "T") for row in csv.DictReader(handle) if row["ts"]}
    return stamps
