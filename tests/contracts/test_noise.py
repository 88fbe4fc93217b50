"""The noise plan: sized for the gated sensitivity, spending exactly the job's budget, shared among nodes."""

from __future__ import annotations

import math
import random
from fractions import Fraction
from typing import Any

import numpy as np
import pytest

from contracts.jobspec import JobSpec, vector_layout
from contracts.noise import plan_noise, ring_sensitivities
from contracts.privacy import NoiseMode, PrivacyTerms
from contracts.schema import DatasetSchema
from protocols.dp.accounting import epsilon_for


def job(kind: str, **kwargs: Any) -> JobSpec:
    return JobSpec.model_validate({"kind": kind, "dataset": "plant", **kwargs})


def test_no_epsilon_means_no_noise(schema: DatasetSchema) -> None:
    spec = job("mean", field="temp")
    assert plan_noise(spec, vector_layout(spec, schema), PrivacyTerms(), 3) is None


@pytest.mark.parametrize(
    "spec",
    [
        job("mean", field="temp", epsilon=1.0),
        job("variance", field="temp", group_by="shift", epsilon=0.3),
        job("histogram", field="temp", bins=[1400, 1500, 1600, 1800], epsilon=2.0),
        job("linear_regression", features=["temp", "scrap"], target="energy", epsilon=1.0),
    ],
    ids=lambda s: str(s.kind),
)
def test_the_noise_spends_the_jobs_epsilon_and_no_more(spec: JobSpec, schema: DatasetSchema) -> None:
    layout = vector_layout(spec, schema)
    plan = plan_noise(spec, layout, PrivacyTerms(), 3)
    assert plan is not None
    # Independently: one row moves at most k terms of its group, each by m rows' worth of its bound (in
    # fixed-point units, plus one unit of rounding); Gaussian noise per coordinate costs Δ²/(2σ²) in zCDP.
    m, scale = 10, 2.0**spec.precision_bits
    deltas = [m * bound * scale + 1 for bound in layout.term_row_bounds]
    k = 1 if spec.kind == "histogram" else len(layout.terms)
    costs = sorted(d * d / (2 * s * s) for d, s in zip(deltas, plan.term_sigma, strict=True))
    spent = math.fsum(costs[-k:])
    assert spent <= plan.rho * (1 + 1e-9)
    assert spent >= 0.98 * plan.rho  # not wasteful: the noise is no wider than it must be
    assert epsilon_for(plan.rho, 1e-6) <= (spec.epsilon or 0)
    assert epsilon_for(plan.rho, 1e-6) >= 0.999 * (spec.epsilon or 0)


def test_distributed_shares_add_up_to_the_whole_noise(schema: DatasetSchema) -> None:
    spec = job("mean", field="temp", epsilon=1.0)
    layout = vector_layout(spec, schema)
    plan = plan_noise(spec, layout, PrivacyTerms(), 4)
    assert plan is not None and plan.mode is NoiseMode.DISTRIBUTED and plan.shares == 4
    shares = plan.share_sigma2(layout)
    assert [s * 4 for s in shares[:2]] == [Fraction(sigma) ** 2 for sigma in plan.term_sigma]
    assert shares[2] == 0  # the cohort indicator is never noised
    central = plan_noise(spec, layout, PrivacyTerms(noise_mode=NoiseMode.CENTRAL), 4)
    assert central is not None and central.shares == 1
    assert central.share_sigma2(layout)[:2] == [Fraction(sigma) ** 2 for sigma in central.term_sigma]


def test_four_sampled_shares_have_the_planned_variance(schema: DatasetSchema) -> None:
    spec = job("count", epsilon=1.0)
    layout = vector_layout(spec, schema)
    plan = plan_noise(spec, layout, PrivacyTerms(), 4)
    assert plan is not None
    rng = random.Random(7)
    totals = []
    for _ in range(4000):
        summed = sum(plan.sample(layout, rng).astype(np.int64) for _ in range(4))
        totals.append(int(summed[0]))
        assert summed[1] == 0
    variance = float(np.var(totals))
    # 4000 draws: the sample variance is within 6 standard errors (sqrt(2/n) relative) of sigma^2.
    assert variance == pytest.approx(plan.term_sigma[0] ** 2, rel=6 * math.sqrt(2 / 4000))


def test_the_reported_error_grows_with_the_survivors(schema: DatasetSchema) -> None:
    spec = job("mean", field="temp", epsilon=1.0)
    layout = vector_layout(spec, schema)
    plan = plan_noise(spec, layout, PrivacyTerms(), 3)
    assert plan is not None
    three, five = plan.report(layout, 3), plan.report(layout, 5)
    scale = 2.0**spec.precision_bits
    assert three.term_std[1] == pytest.approx(plan.term_sigma[1] / scale, rel=1e-9)
    assert five.term_std[1] == pytest.approx(plan.term_sigma[1] / scale * math.sqrt(5 / 3), rel=1e-9)
    assert ring_sensitivities(layout, 10, 16)[0] == 10 * scale + 1
