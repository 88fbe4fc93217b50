"""Exact reference distributions, from their definitions, and the statistical check samplers must pass.

Tolerances. Every moment and tail check is a z-test at 6 standard errors: under the normal approximation a
correct sampler fails one with probability ~2e-9, and a module runs well under 100 of them, so a false failure
has probability < 1e-6 (the seeds are fixed, so each test is deterministic; this bounds the chance that a
seed was unlucky). The chi-square check uses the Laurent–Massart bound for a χ²_k variable,
P[X ≥ k + 2√(kx) + 2x] ≤ exp(-x), with x = ln(10^7): a threshold above the exact 1e-7 quantile (e.g. 67.6
against ~52 for k = 10). Pearson's statistic is χ²_k only asymptotically, so bins are merged until each
expects at least 20 draws, where the approximation is good and the bound's slack covers the rest.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from fractions import Fraction

Z_TOLERANCE = 6.0
CHI2_LOG_INV_P = math.log(1e7)
MIN_EXPECTED = 20.0
TRUNCATION = 1e-15  # the truncated tail of a reference weighs at most this much


@dataclass(frozen=True)
class Reference:
    """A distribution on a finite window of the integers whose outside weighs < TRUNCATION."""

    name: str
    pmf: dict[int, float]

    def moment(self, power: int) -> float:
        return math.fsum(p * x**power for x, p in self.pmf.items())

    def moment_abs(self) -> float:
        return math.fsum(p * abs(x) for x, p in self.pmf.items())

    def tail(self, k: int) -> float:
        """P[|X| >= k]."""
        return math.fsum(p for x, p in self.pmf.items() if abs(x) >= k)


def discrete_gaussian(sigma2: Fraction) -> Reference:
    """P[X = x] = exp(-x²/2σ²) / Σ_y exp(-y²/2σ²), summed over |x| <= K.

    Tail bound: Σ_{x>K} exp(-x²/2σ²) <= exp(-K²/2σ²)·Σ_{j>=1} exp(-jK/σ²) (as (K+j)² >= K² + 2jK),
    i.e. exp(-K²/2σ²)·r/(1-r) with r = exp(-K/σ²); K is chosen so that twice this is < TRUNCATION.
    """
    s2 = float(sigma2)
    k = math.ceil(math.sqrt(2.0 * s2 * 40.0)) + 2
    ratio = math.exp(-k / s2)
    tail = 2.0 * math.exp(-k * k / (2.0 * s2)) * ratio / (1.0 - ratio)
    assert tail < TRUNCATION
    weights = {x: math.exp(-x * x / (2.0 * s2)) for x in range(-k, k + 1)}
    total = math.fsum(weights.values())
    return Reference(f"N_Z(0, {sigma2})", {x: w / total for x, w in weights.items()})


def discrete_laplace(scale: Fraction) -> Reference:
    """Closed form: P[X = x] = (1-q)/(1+q)·q^|x| with q = exp(-1/scale); P[|X| > K] = 2q^(K+1)/(1+q)."""
    q = math.exp(-1.0 / float(scale))
    k = 1
    while 2.0 * q ** (k + 1) / (1.0 + q) >= TRUNCATION:
        k += 1
    return Reference(f"Lap_Z({scale})", {x: (1.0 - q) / (1.0 + q) * q ** abs(x) for x in range(-k, k + 1)})


def chi2_threshold(degrees: int) -> float:
    return degrees + 2.0 * math.sqrt(degrees * CHI2_LOG_INV_P) + 2.0 * CHI2_LOG_INV_P


def check_samples(
    samples: Sequence[int], reference: Reference, tails: Sequence[int] = (1, 2, 3)
) -> list[str]:
    """Return what contradicts ``reference`` in ``samples`` (empty when nothing does)."""
    n = len(samples)
    failures = []
    mean, second, fourth = (reference.moment(p) for p in (1, 2, 4))
    var = second - mean * mean
    observed_mean = math.fsum(samples) / n
    failures += _z("mean", observed_mean, mean, math.sqrt(var / n))
    observed_second = math.fsum(x * x for x in samples) / n
    failures += _z("E[X²]", observed_second, second, math.sqrt((fourth - second * second) / n))
    for k in tails:
        p = reference.tail(k)
        observed = sum(1 for x in samples if abs(x) >= k) / n
        failures += _z(f"P[|X| >= {k}]", observed, p, math.sqrt(p * (1.0 - p) / n))
    statistic, degrees = chi2_statistic(samples, reference)
    if statistic > chi2_threshold(degrees):
        failures.append(f"chi² {statistic:.1f} > {chi2_threshold(degrees):.1f} ({degrees} df)")
    return [f"{reference.name}: {failure}" for failure in failures]


def chi2_statistic(samples: Sequence[int], reference: Reference) -> tuple[float, int]:
    """Pearson's statistic over bins grown outward from 0 until each expects >= MIN_EXPECTED draws."""
    n = len(samples)
    counts = Counter(samples)
    bins: list[tuple[float, int]] = []  # (expected, observed)
    expected, observed = 0.0, 0
    for x in sorted(reference.pmf, key=lambda v: (abs(v), v)):
        expected += n * reference.pmf[x]
        observed += counts.pop(x, 0)
        if expected >= MIN_EXPECTED:
            bins.append((expected, observed))
            expected, observed = 0.0, 0
    leftover = observed + sum(counts.values())  # the far tails, and anything outside the reference window
    if bins:
        last_expected, last_observed = bins.pop()
        bins.append((last_expected + expected, last_observed + leftover))
    statistic = math.fsum((o - e) ** 2 / e for e, o in bins)
    return statistic, len(bins) - 1


def _z(what: str, observed: float, expected: float, standard_error: float) -> list[str]:
    if abs(observed - expected) <= Z_TOLERANCE * standard_error:
        return []
    return [f"{what} = {observed:.6g}, expected {expected:.6g} ± {Z_TOLERANCE} × {standard_error:.3g}"]
