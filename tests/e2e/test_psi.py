"""How many of a buyer's suppliers the factories also buy from, across three real node processes (PSI).

Each factory brings a supplier table of its own (credit codes written as its ERP writes them); the buyer's
list never leaves its client, the factories' keys never leave their nodes, and the buyer learns only the
total over the cohort. Checked against Python sets on the normalised codes; the transcript the coordinator
recorded is checked to hold group elements only.
"""

from __future__ import annotations

import csv
import json
import random
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from coordinator.client.gateway import GatewayClient
from coordinator.client.psi import Responder, read_keys
from coordinator.localspace.harness import LocalSpace, factory_id
from coordinator.localspace.suppliers import (
    POOL,
    declare_codes_not_personal,
    holdings,
    write_supplier_table,
    written_as_erp,
)
from proto.dataspace.v1 import node_service_pb2 as pb
from protocols.psi import group
from protocols.psi.messages import BlindedKeys
from protocols.psi.normalize import canonical_key

pytestmark = pytest.mark.e2e
FACTORIES = 3
DATASET = "suppliers"
PURPOSE = "supply_chain_planning"
MIN_ROWS = 10  # the default minimum rows (here: common keys) behind a factory's contribution


@pytest.fixture(scope="module")
def space(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[LocalSpace, list[list[str]]]]:
    workdir = tmp_path_factory.mktemp("psi")
    env = {"DATASPACE_ROUND_TIMEOUT_S": "20", "DATASPACE_PARTICIPANT_WAIT_S": "10",
           "DATASPACE_WIRE_RECORD_DIR": str(workdir / "wire"), "DATASPACE_BUYER_WAIT_S": "5"}  # fmt: skip
    local = LocalSpace(workdir, extra_env=env)
    rng = random.Random(7)
    held = holdings(FACTORIES)
    local.start_coordinator()
    try:
        for index, codes in enumerate(held):
            table = write_supplier_table(local.factory_dir(index) / "data" / f"{DATASET}.csv", codes, rng)
            factory = local.add_factory_from_files(index, {DATASET: table})
            declare_codes_not_personal(factory.directory / "node.toml")
            confirmed = subprocess.run([sys.executable, "-m", "node", "confirm", DATASET, "--dir",
                                        str(factory.directory)], capture_output=True, text=True)  # fmt: skip
            assert confirmed.returncode == 0, confirmed.stderr
            local.start_node(factory)
        local.wait_for_nodes(FACTORIES)
        yield local, held
    finally:
        local.stop()


@pytest.fixture(scope="module")
def buyer(space: tuple[LocalSpace, list[list[str]]]) -> Iterator[GatewayClient]:
    local, _ = space
    kinds = ("--kind", "psi_cardinality", "--kind", "psi_sum", "--kind", "count")
    offers = [local.publish(f, "--purpose", PURPOSE, *kinds, dataset=DATASET) for f in local.factories]
    client = local.enroll_buyer(factory_id(80))
    client.contract_id = client.negotiate(offers, PURPOSE)
    with client:
        yield client


def _expected(held: list[list[str]], buyer_codes: list[str]) -> int:
    """Σ over factories of |B ∩ F_f|, a factory with fewer than MIN_ROWS common keys contributing 0."""
    mine = {canonical_key("credit_code", code) for code in buyer_codes}
    counts = [len(mine & set(codes)) for codes in held]
    return sum(c for c in counts if c >= MIN_ROWS)


def _expected_sum(local: LocalSpace, codes: list[str]) -> int:
    """Σ of purchase_cost_cny over every factory row whose supplier is in ``codes`` (csv module, sets)."""
    mine = {canonical_key("credit_code", c) for c in codes}
    total = 0
    for factory in local.factories:
        with (factory.directory / "data" / f"{DATASET}.csv").open(encoding="utf-8") as handle:
            rows = list(csv.DictReader(handle))
        total += sum(
            int(r["purchase_cost_cny"])
            for r in rows
            if canonical_key("credit_code", r["supplier_code"]) in mine
        )
    return total


def _keys_file(path: Path, codes: list[str]) -> Path:
    rng = random.Random(3)
    path.write_text(
        "credit_code\n" + "".join(written_as_erp(c, rng) + "\n" for c in codes + codes[:3]), "utf-8"
    )
    return path


def test_the_total_overlap_equals_python_sets_and_the_buyer_learns_only_the_total(
    space: tuple[LocalSpace, list[list[str]]], buyer: GatewayClient, tmp_path: Path
) -> None:
    local, held = space
    codes = random.Random(11).sample(POOL, 50)
    responder = Responder(read_keys(_keys_file(tmp_path / "keys.csv", codes), "credit_code"))
    spec = {"kind": "psi_cardinality", "dataset": DATASET, "key_field": "supplier_code",
            "normalization": "credit_code"}  # fmt: skip
    job_id = buyer.submit_job(spec)["id"]
    job = buyer.wait(job_id, timeout=120, progress=lambda seen, _: responder.answer(buyer, job_id))
    assert job["state"] == "SUCCEEDED", job["reason"]
    result = buyer.result(job_id)["result"]
    assert result["kind"] == "psi_cardinality" and result["normalization"] == "credit_code"
    (total,) = result["groups"]
    assert total["n"] == _expected(held, codes) and total["contributors"] == FACTORIES
    assert not {"per_factory", "factories"} & result.keys()  # nothing per factory is released
    assert responder.factories == {f.participant_id for f in local.factories}
    _only_group_elements_on_the_wire(local, job_id, [*codes, *(c for h in held for c in h)])


def _only_group_elements_on_the_wire(local: LocalSpace, job_id: str, codes: list[str]) -> None:
    """What the factories sent for the job: blinded keys that are valid points, and no key in any form."""
    blinded = 0
    for path in (local.workdir / "wire").glob("*.bin"):
        data, at = path.read_bytes(), 0
        while at < len(data):
            size = int.from_bytes(data[at : at + 4], "little")
            raw = data[at + 4 : at + 4 + size]
            at += 4 + size
            message = pb.NodeMessage.FromString(raw)
            if not message.HasField("job") or message.job.job_id != job_id:
                continue
            for code in codes:
                assert code.encode() not in raw and code.lower().encode() not in raw
            if message.job.WhichOneof("body") == "psi":
                points = BlindedKeys.from_bytes(message.job.psi.data).points
                group.validate_points(points)  # raises for anything that is not a ristretto255 point
                assert len(points) == 60
                blinded += 1
    assert blinded == FACTORIES


def test_without_the_buyers_answers_the_job_fails_and_says_why(
    space: tuple[LocalSpace, list[list[str]]], buyer: GatewayClient
) -> None:
    spec = {"kind": "psi_cardinality", "dataset": DATASET, "key_field": "supplier_code",
            "normalization": "credit_code"}  # fmt: skip
    job = buyer.wait(buyer.submit_job(spec)["id"], timeout=120)
    assert job["state"] == "FAILED" and "buyer" in job["reason"]


@pytest.mark.parametrize("kind", ["psi_cardinality", "psi_sum"])
def test_from_the_command_line(
    space: tuple[LocalSpace, list[list[str]]], buyer: GatewayClient, tmp_path: Path, kind: str
) -> None:
    """``dataspace job submit --kind psi_… --keys keys.csv`` waits, answers by itself, reads the total."""
    local, held = space
    codes = random.Random(12).sample(sorted({c for h in held for c in h}), 40)  # most are bought from
    keys = _keys_file(tmp_path / "keys.csv", codes)
    summed = ["--field", "purchase_cost_cny"] if kind == "psi_sum" else []
    signing = tmp_path / "buyer.key"  # the key the buyer signs its order with, as `dataspace enroll` saved it
    assert buyer.signing_key is not None
    signing.write_bytes(buyer.signing_key.private_bytes_raw())
    command = [sys.executable, "-m", "coordinator", "job", "submit", "--kind", kind, *summed,
               "--dataset", DATASET, "--key-field", "supplier_code", "--normalization", "credit_code",
               "--keys", str(keys), "--key-file", str(signing), "--contract", buyer.contract_id or "",
               "--json", "--url", local.http_url,
               "--token", buyer.token or "", "--data-dir", str(local.coordinator_dir)]  # fmt: skip
    done = subprocess.run(command, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    job = json.loads(done.stdout)
    assert job["state"] == "SUCCEEDED"
    if kind == "psi_sum":
        assert job["result"]["sum"] == _expected_sum(local, codes) and "masked_total" not in job["result"]
    else:
        assert job["result"]["groups"][0]["n"] == _expected(held, codes)
    assert "40 distinct keys (3 duplicates, 1 invalid" in done.stderr  # the header row is not a code


def test_the_sum_over_the_intersection_equals_python_and_needs_the_buyers_masks(
    space: tuple[LocalSpace, list[list[str]]], buyer: GatewayClient, tmp_path: Path
) -> None:
    """psi_sum: Σ over factories of the purchase cost of every row whose supplier is on the buyer's list."""
    local, held = space
    codes = random.Random(13).sample(sorted({c for h in held for c in h}), 45)
    responder = Responder(read_keys(_keys_file(tmp_path / "keys.csv", codes), "credit_code"), "psi_sum")
    spec = {"kind": "psi_sum", "dataset": DATASET, "key_field": "supplier_code",
            "normalization": "credit_code", "field": "purchase_cost_cny"}  # fmt: skip
    job_id = buyer.submit_job(spec)["id"]
    job = buyer.wait(job_id, timeout=120, progress=lambda seen, _: responder.answer(buyer, job_id))
    assert job["state"] == "SUCCEEDED", job["reason"]
    result = buyer.result(job_id)["result"]
    assert set(result["factories"]) == {f.participant_id for f in local.factories} and "sum" not in result
    assert responder.total(result) == _expected_sum(local, codes) > 0
    # Without the buyer's masks the total is a random group element: another client reads nothing from it.
    stranger = Responder(responder.keys, "psi_sum")
    with pytest.raises(KeyError):
        stranger.total(result)
