"""The buyer SDK: results read as DataFrames checked against numpy on the rows behind them, and every call
made against the real gateway in process (store, audit log, keys and contract real; no node connected, so
a test finishes its jobs through the store, as the orchestrator would).
"""

from __future__ import annotations

import base64
import sys
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from sqlalchemy import Engine

from contracts.analysis import finalize
from contracts.identity import make_participant_id
from contracts.jobspec import JobSpec, vector_layout
from contracts.negotiation import Event as Move
from contracts.noise import plan_noise
from contracts.privacy import PrivacyTerms, ReleaseRules
from contracts.schema import DatasetSchema
from contracts.signing import sign_terms
from coordinator.client.enrollment import enroll_buyer
from coordinator.client.results import Z95
from coordinator.client.sdk import (
    AuthenticationError,
    ConflictError,
    Dataspace,
    GatewayError,
    InsecureUrlError,
    InvalidRequestError,
    JobFailedError,
    JobResult,
    MissingCaError,
    NotFoundError,
    PermissionDeniedError,
)
from coordinator.context import utc_now
from coordinator.services import contracting
from coordinator.store.tables import JobState
from protocols import fixedpoint
from tests.contracts.test_analysis import vector_from_rows
from tests.contracts.test_offers import PROVIDERS, SCHEMA
from tests.coordinator.api.conftest import BUYER, Gateway, open_gateway
from tests.coordinator.audit.test_api import AppTransport

PLANT = DatasetSchema.model_validate(SCHEMA)
OPEN = ReleaseRules(min_cohort=3, min_cell_rows=0, min_rows_per_factory=1)
EDGES = [1450.0, 1500.0, 1600.0, 1700.0, 1750.0]
SHIFTS = ("A", "B", "C")


def plant_rows(n: int = 240, seed: int = 7) -> dict[str, list[Any]]:
    """Rows within the schema's bounds, energy depending linearly on temperature and throughput."""
    rng = np.random.default_rng(seed)
    temp = rng.uniform(1400, 1800, n)
    throughput = rng.uniform(0, 50, n)
    energy = np.clip(100 + 0.2 * temp + 4 * throughput + rng.normal(0, 10, n), 300, 700)
    shift = rng.choice(SHIFTS, n)
    return {"temp": temp.tolist(), "throughput": throughput.tolist(), "energy": energy.tolist(),
            "shift": shift.tolist()}  # fmt: skip


def released(
    spec: dict[str, Any],
    rows: dict[str, list[Any]],
    *,
    thin: tuple[int, int] | None = None,
    noised: bool = False,
) -> dict[str, Any]:
    """The result the coordinator would release for ``rows``; ``thin`` = (group, cell) two factories had."""
    job = JobSpec.model_validate({"dataset": "plant", **spec})
    layout = vector_layout(job, PLANT)
    vector = vector_from_rows(job, PLANT, rows)
    if thin is not None:
        vector[layout.indicator_slice(thin[0]).start + thin[1]] = 2
    noise = None
    if noised:
        plan = plan_noise(job, layout, PrivacyTerms(min_rows_per_factory=1), threshold=3)
        assert plan is not None
        noise = plan.report(layout, 3)
    result = finalize(job, PLANT, vector, OPEN, noise, np.random.default_rng(0))
    result["fixed_point_max_abs_error"] = fixedpoint.max_abs_error(3, job.precision_bits)
    return result


def by_figure(frame: pd.DataFrame, group: str | None = None) -> dict[str, float]:
    rows = frame[frame["group"].isna()] if group is None else frame[frame["group"] == group]
    return dict(zip(rows["figure"], rows["value"], strict=True))


FIGURES = {
    "count": ["n"],
    "sum": ["n", "sum"],
    "mean": ["n", "mean"],
    "variance": ["n", "mean", "variance", "std"],
}


# -- results as frames ----------------------------------------------------------------------------------
@pytest.mark.parametrize("kind", ["count", "sum", "mean", "variance"])
def test_grouped_figures_match_numpy_on_the_rows(kind: str) -> None:
    rows = plant_rows()
    spec = {"kind": kind, "group_by": "shift"} | ({} if kind == "count" else {"field": "temp"})
    result = released(spec, rows)
    frame = JobResult("job_1", result).frame()
    temp, shift = np.array(rows["temp"]), np.array(rows["shift"])
    for name in SHIFTS:
        x = temp[shift == name]
        reference = {"n": len(x), "sum": x.sum(), "mean": x.mean(), "variance": x.var(ddof=1),
                     "std": x.std(ddof=1)}  # fmt: skip
        figures = by_figure(frame, name)
        expected = FIGURES[kind]
        assert list(figures) == expected
        assert figures == pytest.approx({key: reference[key] for key in expected}, rel=1e-9)
    assert not frame["withheld"].any() and (frame["contributors"] == 3).all()
    assert frame["noise_std"].isna().all() and frame["ci_low"].isna().all()  # exact: no error stated
    assert (frame["fixed_point_max_abs_error"] == 3 * 2.0**-17).all()
    assert frame.attrs | {"job_id": "job_1", "kind": kind, "dataset": "plant"} == frame.attrs


def test_a_histogram_matches_numpy_and_a_thin_bin_is_withheld() -> None:
    rows = plant_rows()
    result = released({"kind": "histogram", "field": "temp", "bins": EDGES, "group_by": "shift"}, rows,
                      thin=(1, 2))  # fmt: skip  # shift B, second bin (cell 0 counts the rows outside)
    frame = JobResult("job_1", result).frame()
    temp, shift = np.array(rows["temp"]), np.array(rows["shift"])
    for index, name in enumerate(SHIFTS):
        x = temp[shift == name]
        counts, _ = np.histogram(x, bins=EDGES)
        group = frame[frame["group"] == name]
        bins = group[group["figure"] != "out_of_range"]
        assert list(bins["bin_low"]) == EDGES[:-1] and list(bins["bin_high"]) == EDGES[1:]
        assert list(bins["figure"]) == ["[1450, 1500)", "[1500, 1600)", "[1600, 1700)", "[1700, 1750]"]
        withheld = bins["withheld"].to_numpy()
        assert list(withheld) == [False, index == 1, False, False]
        assert list(bins["value"][~withheld]) == list(counts[~withheld])
        outside = group[group["figure"] == "out_of_range"]["value"].item()
        assert outside == ((x < EDGES[0]) | (x > EDGES[-1])).sum()
    thin = frame[frame["withheld"]]
    assert len(thin) == 1 and np.isnan(thin["value"].item()) and pd.isna(thin["contributors"].item())
    assert "fewer than 3 factories" in thin["reason"].item()


def test_a_regression_matches_least_squares_with_its_standard_errors() -> None:
    rows = plant_rows()
    spec = {"kind": "linear_regression", "features": ["temp", "throughput"], "target": "energy"}
    frame = JobResult("job_1", released(spec, rows)).frame()
    x = np.column_stack([np.ones(len(rows["temp"])), rows["temp"], rows["throughput"]])
    y = np.array(rows["energy"])
    beta, residuals, *_ = np.linalg.lstsq(x, y, rcond=None)
    dof = len(y) - x.shape[1]
    std_errors = np.sqrt(residuals[0] / dof * np.diag(np.linalg.inv(x.T @ x)))
    figures = frame.set_index("figure")
    names = ["coefficient:intercept", "coefficient:temp", "coefficient:throughput"]
    assert list(figures.loc[names, "value"]) == pytest.approx(beta, rel=1e-7)
    assert list(figures.loc[names, "std_error"]) == pytest.approx(std_errors, rel=1e-6)
    assert list(figures.loc[names, "ci_low"]) == pytest.approx(beta - Z95 * std_errors, rel=1e-6)
    assert figures.loc["r_squared", "value"] == pytest.approx(1 - residuals[0] / (y.var() * len(y)))
    assert (figures.loc["n", "value"], figures.loc["dof", "value"]) == (len(y), dof)
    assert frame["group"].isna().all()


def test_noised_figures_carry_the_noise_the_result_states() -> None:
    rows = plant_rows()
    result = released({"kind": "mean", "field": "temp", "group_by": "shift", "epsilon": 1.0}, rows,
                      noised=True)  # fmt: skip
    frame = JobResult("job_1", result).frame()
    temp, shift = np.array(rows["temp"]), np.array(rows["shift"])
    for group in result["groups"]:
        rows_of = frame[frame["group"] == group["group"]].set_index("figure")
        for figure, std in group["error"].items():
            assert rows_of.loc[figure, "noise_std"] == std > 0
            value = rows_of.loc[figure, "value"]
            assert rows_of.loc[figure, ["ci_low", "ci_high"]].tolist() == pytest.approx(
                [value - Z95 * std, value + Z95 * std]
            )
        truth = temp[shift == group["group"]].mean()
        assert abs(rows_of.loc["mean", "value"] - truth) < 6 * rows_of.loc["mean", "noise_std"]
    assert frame.attrs["privacy"]["epsilon"] == 1.0


def test_a_withheld_group_keeps_its_rows_without_values() -> None:
    result = released({"kind": "variance", "field": "temp", "group_by": "shift"}, plant_rows(), thin=(2, 0))
    frame = JobResult("job_1", result).frame()
    c = frame[frame["group"] == "C"]
    assert list(c["figure"]) == ["n", "mean", "variance", "std"]
    assert c["withheld"].all() and c["value"].isna().all() and c["reason"].str.contains("factories").all()
    assert not frame[frame["group"] != "C"]["withheld"].any()


def test_an_extract_is_its_rows_and_a_new_kind_its_numbers() -> None:
    extract = {
        "kind": "extract",
        "columns": ["shift", "temp"],
        "rows": [{"shift": "A", "temp": "[1500, 1600)"}],
    }
    assert JobResult("job_1", extract).frame().to_dict("records") == extract["rows"]
    group = {"group": None, "contributors": 4, "n": 90, "median": 1601.5, "error": {"median": 2.0},
             "note": "text is no figure"}  # fmt: skip
    future = {"kind": "quantile", "group_by": None, "groups": [group]}
    frame = JobResult("job_1", future).frame()
    assert by_figure(frame) == {"n": 90, "median": 1601.5}
    assert frame.set_index("figure").loc["median", "noise_std"] == 2.0


def test_without_pandas_frame_says_what_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "pandas", None)  # an import of pandas now fails
    result = JobResult("job_1", released({"kind": "count"}, plant_rows()))
    with pytest.raises(ImportError, match=r"pip install pandas"):
        result.frame()
    assert [f.value for f in result.figures()] == [240]


# -- against the real gateway ---------------------------------------------------------------------------
@pytest.fixture
def gateway(engine: Engine, tmp_path: Path) -> Iterator[Gateway]:
    yield open_gateway(engine, tmp_path / "coordinator")


def session(gateway: Gateway, token: str, **options: Any) -> Dataspace:
    """A buyer's session over HTTPS verified against the operator CA, into the app in process."""
    ca = gateway.context.keys.ca.cert_pem
    return Dataspace("https://testserver", token, ca=ca, transport=AppTransport(gateway.app), **options)


def test_a_buyer_lists_submits_waits_and_reads_a_frame(gateway: Gateway, tmp_path: Path) -> None:
    rows = plant_rows()
    with session(gateway, gateway.tokens["buyer"]) as ds:
        assert ds.me()["participant_id"] == BUYER
        assert {o["offer_id"] for o in ds.offers()} == {"offer-0", "offer-1", "offer-2"}
        assert ds.catalog(limit=2)["total"] >= 1
        assert [c["contract_id"] for c in ds.contracts()] == [gateway.contract_id]
        job = ds.submit({"kind": "histogram", "dataset": "plant"}, field="temp", bins=EDGES, group_by="shift",
                        filters=None, contract_id=gateway.contract_id)  # fmt: skip
        assert (job["state"], job["spec"]["bins"], job["contract_id"]) == (
            "QUEUED",
            EDGES,
            gateway.contract_id,
        )
        assert [j["id"] for j in ds.jobs()] == [job["id"]] and ds.job(job["id"])["state"] == "QUEUED"
        with pytest.raises(ConflictError) as early:
            ds.result(job["id"])
        assert early.value.code == "result_not_available"

        result = released(job["spec"], rows)
        seen: list[str] = []

        def progress(status: dict[str, Any], waited: float) -> None:
            seen.append(status["state"])
            if status["state"] == "QUEUED":  # the run ends while the buyer waits
                gateway.finish(job["id"], result)

        finished = ds.wait(job["id"], poll=0.0, progress=progress)
    assert seen == ["QUEUED", "SUCCEEDED"]
    assert (finished.job_id, finished.raw, finished.contributors) == (job["id"], result, 3)
    frame = finished.frame()
    temp = np.array(rows["temp"])
    for name in SHIFTS:
        counts, _ = np.histogram(temp[np.array(rows["shift"]) == name], bins=EDGES)
        bins = frame[(frame["group"] == name) & (frame["figure"] != "out_of_range")]
        assert list(bins["value"]) == list(counts)
    drawn = finished.plot(tmp_path / "temp.svg", size=(480, 320))
    assert drawn == tmp_path / "temp.svg" and drawn.read_text().startswith("<?xml")


def test_a_run_that_fails_raises_with_its_reason(gateway: Gateway) -> None:
    reason = "not_enough_nodes: 1 node(s) holding 'plant' are connected; the job needs 3"

    def fail(status: dict[str, Any], waited: float) -> None:
        if status["state"] == "QUEUED":
            gateway.context.store.finish_job(status["id"], JobState.FAILED, utc_now(), reason=reason)

    with session(gateway, gateway.tokens["buyer"]) as ds, pytest.raises(JobFailedError) as failed:
        ds.run(kind="mean", dataset="plant", field="temp", contract_id=gateway.contract_id, progress=fail)
    assert (failed.value.state, failed.value.reason) == ("FAILED", reason)
    assert failed.value.job["spec"]["field"] == "temp"


def test_refusals_are_typed(gateway: Gateway, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with session(gateway, gateway.tokens["buyer"]) as ds:
        with pytest.raises(NotFoundError) as missing:
            ds.job("job_nonexistent")
        with pytest.raises(InvalidRequestError) as invalid:
            ds.submit(kind="median", dataset="plant", field="temp", contract_id=gateway.contract_id)
        with pytest.raises(ValueError, match="no signing key"):
            ds.sign_contract(gateway.contract_id)
    with session(gateway, gateway.tokens["operator"]) as operator, pytest.raises(PermissionDeniedError):
        operator.submit(kind="count", dataset="plant", contract_id=gateway.contract_id)
    with session(gateway, "not-a-token") as stranger, pytest.raises(AuthenticationError):
        stranger.jobs()
    assert (missing.value.status, invalid.value.status) == (404, 422)
    assert isinstance(missing.value, GatewayError) and invalid.value.details
    monkeypatch.chdir(tmp_path)  # no dataspace-ca.crt here, and no coordinator data directory
    with pytest.raises(InsecureUrlError):
        Dataspace("http://testserver", "t", data_dir=tmp_path)
    with pytest.raises(MissingCaError):
        Dataspace("https://testserver", "t", data_dir=tmp_path)


def test_a_buyer_signs_with_its_key_file_and_a_wrong_key_is_refused(gateway: Gateway, tmp_path: Path) -> None:
    buyer, key = make_participant_id("91110000MA01BKEY0"), Ed25519PrivateKey.generate()
    body = {"participant_id": buyer, "role": "buyer"}
    token = gateway.call("operator", "POST", "/api/v1/enrollment-tokens", json=body).json()["token"]
    enrolled = enroll_buyer("https://testserver", token, key.public_key(), now=datetime.now(UTC),
                            transport=AppTransport(gateway.app))  # fmt: skip
    key_file = tmp_path / "buyer.key"
    key_file.write_bytes(key.private_bytes_raw())
    with session(gateway, enrolled.api_token, key_file=key_file) as ds:
        contract_id = ds.propose_contract(["offer-0", "offer-1", "offer-2"], "research")["contract_id"]
        for provider in PROVIDERS:
            contracting.act(gateway.context, contract_id, provider, Move.OFFER)
        assert ds.agree(contract_id)["negotiation"]["stage"] == "AGREED"
        _providers_sign(gateway, contract_id)
        forger = session(gateway, enrolled.api_token, signing_key=Ed25519PrivateKey.generate())
        with forger, pytest.raises(PermissionDeniedError):
            forger.sign_contract(contract_id)
        assert ds.contract(contract_id)["negotiation"]["stage"] == "AGREED"
        signed = ds.sign_contract(contract_id)
        assert ds.client.participant_id == buyer  # learnt from the token, as `contract sign` does
    assert signed["negotiation"]["stage"] == "FINALIZED"
    assert buyer in {s["party"] for s in signed["signatures"]}


def _providers_sign(gateway: Gateway, contract_id: str) -> None:
    """Each factory signs with a key registered for the test (the fixture keeps its own keys)."""
    for provider in PROVIDERS:
        key = Ed25519PrivateKey.generate()
        public = base64.b64encode(key.public_key().public_bytes_raw()).decode()
        gateway.context.store.set_signing_key(provider, public, utc_now())
        contract = contracting.load(gateway.context, contract_id)
        signature = sign_terms(contract, provider, key).signature_of(provider)
        contracting.act(gateway.context, contract_id, provider, Move.SIGN, signature)
