"""How much differential-privacy noise a job's statistics get, and who adds it.

Noise is integer (discrete Gaussian, ``protocols.dp``) and added to the fixed-point encoded statistics,
so it composes with secure aggregation in Z_2^64. The job's ε (at the contract's δ) becomes a zCDP budget
ρ. One row changes at most ``k`` terms of its group (one bin of a histogram, every term otherwise); with
cells gated at ``m = min_rows_per_factory`` rows, adding or removing one row can also drop or add a whole
cell of one factory, so a term moves by at most ``m`` times its per-row bound. Each term j gets noise
σ_j = c·Δ_j with Δ_j its ring sensitivity and c = √(k / 2ρ), which spends exactly ρ over the k terms.

In distributed mode each of the ``t`` nodes the run needs adds N_Z(0, σ_j²/t): any ``s ≥ t`` survivors
together add at least σ_j², and the coordinator never holds an exact sum. In central mode the coordinator
adds N_Z(0, σ_j²) after unmasking.
"""

from __future__ import annotations

import dataclasses
import math
from fractions import Fraction

import numpy as np

from contracts.jobspec import JobKind, JobSpec, VectorLayout
from contracts.privacy import NoiseMode, NoiseReport, PrivacyTerms
from protocols import fixedpoint
from protocols.dp.accounting import distributed_gaussian_rho, gaussian_rho, rho_for, std_of_discrete_gaussian
from protocols.dp.samplers import RandomSource, discrete_gaussian_vector

MECHANISM = "discrete_gaussian"
# If the distributed bound's τ term is not negligible, widen the noise in steps of this factor.
_WIDEN = 1.01


@dataclasses.dataclass(frozen=True)
class NoisePlan:
    epsilon: float
    delta: float
    rho: float
    mode: NoiseMode
    shares: int  # nodes whose noise shares must all be in the sum (the run's threshold); 1 in central mode
    term_sigma: tuple[float, ...]  # σ_j of the whole noise per term, in ring units
    scale_bits: int

    def share_sigma2(self, layout: VectorLayout) -> list[Fraction]:
        """The variance of one node's (distributed) or the coordinator's (central) noise per position."""
        per_group = [Fraction(s) ** 2 / self.shares for s in self.term_sigma] + [Fraction(0)] * len(
            layout.cells
        )
        return per_group * len(layout.groups)

    def sample(self, layout: VectorLayout, rng: RandomSource) -> fixedpoint.RingArray:
        """One share of the noise, as ring elements ready to add to an encoded vector."""
        values = discrete_gaussian_vector(self.share_sigma2(layout), rng)
        return np.array([v % (1 << 64) for v in values], dtype=np.uint64)

    def report(self, layout: VectorLayout, shares_in_sum: int) -> NoiseReport:
        """What a result states: ε, δ, ρ, mechanism, and the noise's standard deviation per statistic."""
        scale = 2.0**self.scale_bits
        count = shares_in_sum if self.mode is NoiseMode.DISTRIBUTED else 1
        each = [std_of_discrete_gaussian(sigma / math.sqrt(self.shares)) for sigma in self.term_sigma]
        term_std = tuple(s * math.sqrt(count) / scale for s in each)
        std = np.array((list(term_std) + [0.0] * len(layout.cells)) * len(layout.groups))
        labels = tuple(term.label for term in layout.terms)
        return NoiseReport(MECHANISM, self.mode, self.epsilon, self.delta, self.rho, labels, term_std, std)


def plan_noise(
    spec: JobSpec, layout: VectorLayout, privacy: PrivacyTerms, threshold: int
) -> NoisePlan | None:
    """The noise for ``spec``, or None when the job asks for no differential privacy (no ε).

    Encrypted scoring is noised by the nodes whatever the contract's mode: its sums reach the coordinator
    only under the buyer's key, so there is nothing it could add central noise to.
    """
    if spec.epsilon is None:
        return None
    rho = rho_for(spec.epsilon, privacy.delta)
    if rho <= 0:
        raise ValueError(f"epsilon {spec.epsilon} at delta {privacy.delta} leaves no privacy budget")
    mode = NoiseMode.DISTRIBUTED if spec.kind is JobKind.ENCRYPTED_SCORING else privacy.noise_mode
    shares = threshold if mode is NoiseMode.DISTRIBUTED else 1
    sensitivities = ring_sensitivities(layout, privacy.min_rows_per_factory, spec.precision_bits)
    touched = layout.terms_touched_by_a_row
    c = math.sqrt(touched / (2.0 * rho))
    while _spent(sensitivities, c, shares, touched) > rho:
        c *= _WIDEN
    return NoisePlan(
        epsilon=spec.epsilon,
        delta=privacy.delta,
        rho=rho,
        mode=mode,
        shares=shares,
        term_sigma=tuple(c * d for d in sensitivities),
        scale_bits=spec.precision_bits,
    )


def ring_sensitivities(layout: VectorLayout, min_rows_per_factory: int, scale_bits: int) -> list[float]:
    """Δ_j: how far one row can move term j of one factory's encoded vector, gating included.

    A factory's sum is rounded to the ring once, so a row can also move the rounding by one unit.
    """
    scale = 2.0**scale_bits
    return [min_rows_per_factory * bound * scale + 1.0 for bound in layout.term_row_bounds]


def _spent(sensitivities: list[float], c: float, shares: int, touched: int) -> float:
    """ρ of the planned noise: the ``touched`` costliest terms (the same cost each, up to τ) add up."""
    costs = sorted(
        (
            distributed_gaussian_rho(d, Fraction((c * d) ** 2 / shares), shares)
            if shares > 1
            else gaussian_rho(d, c * d)
        )
        for d in sensitivities
    )
    return math.fsum(costs[-touched:])
