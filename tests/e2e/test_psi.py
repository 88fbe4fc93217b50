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
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from contracts.identity import make_participant_id
from coordinator.client.gateway import GatewayClient
from coordinator.client.psi import Responder, read_keys
from coordinator.localspace.harness import LocalSpace, factory_id
from proto.dataspace.v1 import node_service_pb2 as pb
from protocols.psi import group
from protocols.psi.messages import BlindedKeys
from protocols.psi.normalize import canonical_key

pytestmark = pytest.mark.e2e
FACTORIES = 3
DATASET = "suppliers"
PURPOSE = "supply_chain_planning"
POOL = [make_participant_id(f"9132{n:013d}") for n in range(100)]  # valid unified social credit codes
MIN_ROWS = 10  # the default minimum rows (here: common keys) behind a factory's contribution


def _written(code: str, rng: random.Random) -> str:
    """The same code as different ERPs write it: lower case, spaces, hyphens, full-width digits."""
    return rng.choice([code, code.lower(), f" {code[:6]}-{code[6:]} ", code.translate(_FULL_WIDTH)])


_FULL_WIDTH = str.maketrans("0123456789", "０１２３４５６７８９")


def _supplier_table(path: Path, codes: list[str], rng: random.Random) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["supplier_code", "material_grade", "purchase_cost_cny"])
        for code in codes + rng.sample(codes, 5):  # some suppliers appear twice
            writer.writerow(
                [_written(code, rng), rng.choice(["ore", "coal", "alloy"]), rng.randint(1, 10**7)]
            )
    return path


@pytest.fixture(scope="module")
def space(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[LocalSpace, list[list[str]]]]:
    workdir = tmp_path_factory.mktemp("psi")
    env = {"DATASPACE_ROUND_TIMEOUT_S": "20", "DATASPACE_PARTICIPANT_WAIT_S": "10",
           "DATASPACE_WIRE_RECORD_DIR": str(workdir / "wire"), "DATASPACE_BUYER_WAIT_S": "10"}  # fmt: skip
    local = LocalSpace(workdir, extra_env=env)
    rng = random.Random(7)
    holdings = [rng.sample(POOL, 60) for _ in range(FACTORIES)]
    local.start_coordinator()
    try:
        for index, codes in enumerate(holdings):
            table = _supplier_table(local.factory_dir(index) / "data" / f"{DATASET}.csv", codes, rng)
            factory = local.add_factory_from_files(index, {DATASET: table})
            _declare_codes_not_personal(factory.directory / "node.toml")
            confirmed = subprocess.run([sys.executable, "-m", "node", "confirm", DATASET, "--dir",
                                        str(factory.directory)], capture_output=True, text=True)  # fmt: skip
            assert confirmed.returncode == 0, confirmed.stderr
            local.start_node(factory)
        local.wait_for_nodes(FACTORIES)
        yield local, holdings
    finally:
        local.stop()


@pytest.fixture(scope="module")
def buyer(space: tuple[LocalSpace, list[list[str]]]) -> Iterator[GatewayClient]:
    local, _ = space
    kinds = ("--kind", "psi_cardinality", "--kind", "count")
    offers = [local.publish(f, "--purpose", PURPOSE, *kinds, dataset=DATASET) for f in local.factories]
    client = local.enroll_buyer(factory_id(80))
    client.contract_id = client.negotiate(offers, PURPOSE)
    with client:
        yield client


def _declare_codes_not_personal(config: Path) -> None:
    """The factory's own decision before it confirms: its suppliers' credit codes name companies, not people.

    init proposes every text column as personal (a sole trader's code could be one); the factory, knowing
    its suppliers are companies, edits the proposal as the README says, and confirms it.
    """
    text = config.read_text(encoding="utf-8")
    start = text.index('name = "supplier_code"')
    end = text.index("[[datasets.fields]]", start)
    block = re.sub(r'personal = \w+\ngrade = "\w+"', 'personal = false\ngrade = "general"', text[start:end])
    config.write_text(text[:start] + block + text[end:], encoding="utf-8")


def _expected(holdings: list[list[str]], buyer_codes: list[str]) -> int:
    """Σ over factories of |B ∩ F_f|, a factory with fewer than MIN_ROWS common keys contributing 0."""
    mine = {canonical_key("credit_code", code) for code in buyer_codes}
    counts = [len(mine & set(codes)) for codes in holdings]
    return sum(c for c in counts if c >= MIN_ROWS)


def _keys_file(path: Path, codes: list[str]) -> Path:
    rng = random.Random(3)
    path.write_text("credit_code\n" + "".join(_written(c, rng) + "\n" for c in codes + codes[:3]), "utf-8")
    return path


def test_the_total_overlap_equals_python_sets_and_the_buyer_learns_only_the_total(
    space: tuple[LocalSpace, list[list[str]]], buyer: GatewayClient, tmp_path: Path
) -> None:
    local, holdings = space
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
    assert total["n"] == _expected(holdings, codes) and total["contributors"] == FACTORIES
    assert not {"per_factory", "factories"} & result.keys()  # nothing per factory is released
    assert responder.answered == {f.participant_id for f in local.factories}
    _only_group_elements_on_the_wire(local, job_id, [*codes, *(c for h in holdings for c in h)])


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


def test_from_the_command_line(
    space: tuple[LocalSpace, list[list[str]]], buyer: GatewayClient, tmp_path: Path
) -> None:
    """``dataspace job submit --kind psi_cardinality --keys keys.csv`` waits and answers by itself."""
    local, holdings = space
    codes = random.Random(12).sample(POOL, 40)
    keys = _keys_file(tmp_path / "keys.csv", codes)
    command = [sys.executable, "-m", "coordinator", "job", "submit", "--kind", "psi_cardinality",
               "--dataset", DATASET, "--key-field", "supplier_code", "--normalization", "credit_code",
               "--keys", str(keys), "--contract", buyer.contract_id or "", "--json", "--url", local.http_url,
               "--token", buyer.token or "", "--data-dir", str(local.coordinator_dir)]  # fmt: skip
    done = subprocess.run(command, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    job = json.loads(done.stdout)
    assert job["state"] == "SUCCEEDED" and job["result"]["groups"][0]["n"] == _expected(holdings, codes)
    assert "40 distinct keys (3 duplicates, 1 invalid" in done.stderr  # the header row is not a code
