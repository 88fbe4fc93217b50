"""Encrypted scoring across three real node processes: the buyer's model stays encrypted under its own key.

Checked against numpy on the pooled files; the attacks are a coordinator handing the buyer one node's
ciphertext instead of the sum, and a buyer (or coordinator) sending a context that carries a secret key.
"""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import tenseal as ts

from contracts.schema import DatasetSchema
from coordinator.client.gateway import GatewayClient, GatewayError
from coordinator.client.scoring import (
    ScoringModel,
    feature_bounds,
    polynomials,
    prepare,
    read_scores,
)
from coordinator.localspace.demo_check import read_factory
from coordinator.localspace.harness import LocalSpace, factory_id
from proto.dataspace.v1 import node_service_pb2 as pb
from protocols import he
from protocols.he import query
from tests.e2e.conftest import start_space

pytestmark = pytest.mark.e2e
DATASET = "steel_production"
MODEL = ScoringModel.model_validate(
    {
        "features": ["furnace_temp_c", "scrap_ratio"],
        "weights": [0.004, 3.0],
        "bias": -7.0,
        "outputs": [
            {"name": "score", "function": "sum"},
            {"name": "score_squared", "function": "sum_of_squares"},
            {"name": "defect_probability", "function": "logistic", "degree": 3},
            {"name": "high_risk", "function": "count_above", "threshold": 0.0, "degree": 3},
        ],
    }
)


@pytest.fixture(scope="module")
def space(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalSpace]:
    workdir = tmp_path_factory.mktemp("scoring")
    local = start_space(workdir, 3, {"DATASPACE_WIRE_RECORD_DIR": str(workdir / "wire")})
    try:
        yield local
    finally:
        local.stop()


@pytest.fixture(scope="module")
def buyer(space: LocalSpace) -> Iterator[GatewayClient]:
    args = ("--purpose", "quality_improvement", "--kind", "encrypted_scoring", "--kind", "count")
    with space.contracted_buyer(factory_id(60), *args) as client:
        yield client


@pytest.fixture(scope="module")
def owner() -> he.KeyOwner:
    return he.KeyOwner(he.CKKS_8192, galois_keys=True)


def _schema(space: LocalSpace) -> DatasetSchema:
    with space.operator() as operator:
        entry = next(d for d in operator.datasets() if d["name"] == DATASET)
    return DatasetSchema.model_validate(entry["schema"])


def _run(buyer: GatewayClient, owner: he.KeyOwner, schema: DatasetSchema, **extra: Any) -> dict[str, Any]:
    prepared = prepare(MODEL, feature_bounds(MODEL, schema), owner)
    digest = buyer.upload_input(prepared.data)["digest"]
    spec = {"dataset": DATASET, **prepared.spec_fields(MODEL, digest), **extra}
    job = buyer.wait(buyer.submit_job(spec)["id"], timeout=180)
    assert job["state"] == "SUCCEEDED", job["reason"]
    return {"job": job, "result": buyer.result(job["id"])["result"]}


def _pooled_scores(
    space: LocalSpace, schema: DatasetSchema, group_by: str | None
) -> dict[Any, dict[str, Any]]:
    """Per group, numpy's sums of each output's polynomial (and of the true logistic) over the pooled rows."""
    data = [read_factory([f.data_file], schema) for f in space.factories]
    pooled = {name: np.concatenate([d[name] for d in data]) for name in data[0]}
    x = np.stack([pooled[name] for name in MODEL.features], axis=1)
    keep = ~np.isnan(x).any(axis=1)
    z = x[keep] @ np.array(MODEL.weights) + MODEL.bias
    groups = pooled[group_by][keep] if group_by else np.array([None] * int(keep.sum()), dtype=object)
    fs = polynomials(MODEL, feature_bounds(MODEL, schema))
    answer: dict[Any, dict[str, Any]] = {}
    for group in dict.fromkeys(groups.tolist()):
        zg = z[groups == group]
        answer[group] = {"rows": len(zg)} | {
            o.name: float(f(zg).sum()) for o, f in zip(MODEL.outputs, fs, strict=True)
        }
        answer[group]["true_logistic"] = float((1 / (1 + np.exp(-zg))).sum())
    return answer


def test_scores_equal_numpy_on_the_pooled_data_within_the_stated_error(
    space: LocalSpace, buyer: GatewayClient, owner: he.KeyOwner
) -> None:
    schema = _schema(space)
    run = _run(buyer, owner, schema, group_by="line")
    assert run["job"]["contributors"] == 3
    rows = read_scores(run["result"], MODEL, feature_bounds(MODEL, schema), owner)
    expected = _pooled_scores(space, schema, "line")
    assert {row["group"] for row in rows} == set(expected)
    for row in rows:
        truth = expected[row["group"]]
        assert row["rows"] == truth["rows"]
        for name, figure in row["outputs"].items():
            assert figure["noise_std"] == 0.0  # no epsilon: exact up to the numeric error
            assert abs(figure["value"] - truth[name]) <= figure["numeric_error"], (row["group"], name)
        logistic = row["outputs"]["defect_probability"]
        stated = logistic["numeric_error"] + logistic["approximation_error"]
        assert abs(logistic["value"] - truth["true_logistic"]) <= stated


def test_with_epsilon_the_scores_carry_the_stated_noise(
    space: LocalSpace, buyer: GatewayClient, owner: he.KeyOwner
) -> None:
    schema = _schema(space)
    run = _run(buyer, owner, schema, epsilon=1.0)
    assert run["result"]["privacy"]["epsilon"] == 1.0
    (row,) = read_scores(run["result"], MODEL, feature_bounds(MODEL, schema), owner)
    truth = _pooled_scores(space, schema, None)[None]
    for name, figure in row["outputs"].items():
        assert figure["noise_std"] > 0
        assert abs(figure["value"] - truth[name]) <= 6 * figure["noise_std"] + figure["numeric_error"], name
    # The count and the constant monomial's sum are the same noisy figure.
    assert abs(row["rows"] - truth["rows"]) <= 6 * run["result"]["monomial_noise_std"][0] + 1


def test_one_nodes_ciphertext_decrypts_to_noise_and_only_the_sum_to_the_scores(
    space: LocalSpace, buyer: GatewayClient, owner: he.KeyOwner
) -> None:
    """A coordinator that hands the buyer one node's ciphertext instead of the sum gives it nothing."""
    schema = _schema(space)
    run = _run(buyer, owner, schema)
    per_node = _recorded_scores(space.workdir / "wire", run["job"]["id"])
    assert len(per_node) == 3
    truth = _pooled_scores(space, schema, None)[None]["score"]
    singles = [float(he.decrypt_scores(owner, [blobs[0]])[0]) for blobs in per_node.values()]
    # A node's true share is below |truth| in size; masked, it decrypts to a uniform ring element.
    assert all(abs(value) > 1e9 * max(abs(truth), 1.0) for value in singles)
    total = he.aggregate_scores(owner.public, [[blobs[0]] for blobs in per_node.values()])
    assert abs(float(he.decrypt_scores(owner, total)[0]) - truth) < 1e-3 * max(abs(truth), 1.0)


def _recorded_scores(wire: Path, job_id: str) -> dict[str, list[bytes]]:
    """The encrypted scores each node sent for ``job_id``, from the coordinator's record of the wire."""
    found: dict[str, list[bytes]] = {}
    for path in wire.glob("*.bin"):
        data, at = path.read_bytes(), 0
        while at < len(data):
            size = int.from_bytes(data[at : at + 4], "little")
            message = pb.NodeMessage.FromString(data[at + 4 : at + 4 + size])
            at += 4 + size
            if message.HasField("job") and message.job.job_id == job_id and message.job.HasField("scores"):
                found[path.stem] = list(message.job.scores.ciphertexts)
    return found


def test_no_node_ever_holds_the_secret_key(
    space: LocalSpace, buyer: GatewayClient, owner: he.KeyOwner
) -> None:
    """Nodes check what they get against the job's digest: it, and every file they keep, has no secret key."""
    schema = _schema(space)
    prepared = prepare(MODEL, feature_bounds(MODEL, schema), owner)
    context = ts.context_from(query.decode(prepared.data).context)
    assert not context.has_secret_key() and not context.is_private()
    for factory in space.factories:
        for path in factory.directory.rglob("*"):
            if path.is_file() and path.stat().st_size > 4096:
                assert not _holds_secret_context(path.read_bytes()), path


def _holds_secret_context(data: bytes) -> bool:
    try:
        return bool(ts.context_from(data).has_secret_key())
    except Exception:  # not a TenSEAL context at all
        return False


def test_an_input_carrying_a_secret_key_is_refused_audited_and_not_kept(
    space: LocalSpace, buyer: GatewayClient, owner: he.KeyOwner
) -> None:
    schema = _schema(space)
    prepared = prepare(MODEL, feature_bounds(MODEL, schema), owner)
    decoded = query.decode(prepared.data)
    leaky = query.build(owner.secret_bytes(), decoded.params, decoded.queries)
    with pytest.raises(GatewayError) as refused:
        buyer.upload_input(leaky)
    assert (refused.value.status, refused.value.code) == (422, "secret_key_in_context")
    digest = hashlib.sha256(leaky).hexdigest()
    spec = {"dataset": DATASET, **prepared.spec_fields(MODEL, digest)}
    with pytest.raises(GatewayError) as missing:
        buyer.submit_job(spec)
    assert missing.value.code == "input_not_found"
    with space.operator() as operator:
        entries = operator.audit_entries(kind="job.refused")
    codes = [entry["payload"].get("code") for entry in entries]
    assert "secret_key_in_context" in codes


def test_the_buyer_scores_from_the_command_line_and_decrypts_again_later(
    space: LocalSpace, buyer: GatewayClient, tmp_path: Path
) -> None:
    """``dataspace job submit --kind encrypted_scoring --model`` makes the key, uploads, waits, decrypts."""
    model_file, key_file = tmp_path / "model.json", tmp_path / "he.key"
    model_file.write_text(MODEL.model_dump_json(), encoding="utf-8")
    signing = tmp_path / "buyer.key"  # the key the buyer signs its order with, as `dataspace enroll` saved it
    assert buyer.signing_key is not None
    signing.write_bytes(buyer.signing_key.private_bytes_raw())
    common = ("--model", str(model_file), "--he-key", str(key_file), "--json", "--url", space.http_url,
              "--token", buyer.token or "", "--data-dir", str(space.coordinator_dir))  # fmt: skip
    submitted = json.loads(
        _dataspace(
            "job",
            "submit",
            "--kind",
            "encrypted_scoring",
            "--dataset",
            DATASET,
            "--contract",
            buyer.contract_id or "",
            "--wait",
            "--key-file",
            str(signing),
            *common,
        )
    )
    assert submitted["state"] == "SUCCEEDED" and key_file.stat().st_mode & 0o077 == 0
    truth = _pooled_scores(space, _schema(space), None)[None]
    (group,) = submitted["result"]["groups"]
    assert group["rows"] == truth["rows"]
    assert (
        abs(group["outputs"]["score"]["value"] - truth["score"]) <= group["outputs"]["score"]["numeric_error"]
    )
    again = json.loads(_dataspace("job", "result", submitted["id"], *common))
    assert again["result"]["groups"] == submitted["result"]["groups"]


def _dataspace(*args: str) -> str:
    result = subprocess.run([sys.executable, "-m", "coordinator", *args], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    return result.stdout
