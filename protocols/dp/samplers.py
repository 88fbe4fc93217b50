"""Exact samplers of the discrete Laplace and discrete Gaussian over the integers, from integer draws only.

The algorithms are Algorithms 1–3 of Canonne, Kamath and Steinke, "The Discrete Gaussian for Differential
Privacy" (NeurIPS 2020): Bernoulli(exp(-γ)) for rational γ, then the discrete Laplace by rejection from a
uniform and a geometric, then the discrete Gaussian by rejection from a discrete Laplace. Every parameter is
a rational and every random choice is ``rng.randrange(m)`` or ``rng.getrandbits(1)``, so the output follows
the stated distribution exactly; no floating point is involved anywhere.

Why not OpenDP's samplers. OpenDP (0.16) implements the same CKS algorithms, and ``make_gaussian`` over an
``i64`` vector domain does add integer noise to a vector. But its samplers take no generator: every bit comes
from the library's own OS-seeded source (Rust ``fill_bytes``: OpenSSL's ``rand_bytes``, or a thread-local
CTR-DRBG in recent sources), so a test cannot drive them with a fixed seed, neither to reproduce a draw nor
to check the exact distribution deterministically. Python reaches them only through a measurement with a
float scale, and there ``T=int`` means ``i32``, which saturates at 2^31 - 1 for σ = 2^16 × 50,000. Here the
randomness is a parameter (``RandomSource``): ``random.Random(seed)`` in tests, ``secrets.SystemRandom()``
(``system_random()``) in production, and the variance is an exact rational.

Floats given by callers (a variance, a scale, γ) are converted exactly with ``Fraction(float)``; nothing is
rounded. Running time depends on the output (rejection loops), as in every exact sampler: a party that can
time the sampling learns a little about the noise it drew.
"""

from __future__ import annotations

import math
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from fractions import Fraction
from typing import Protocol

RationalLike = Fraction | int | float


class RandomSource(Protocol):
    """Integer randomness: satisfied by ``random.Random(seed)`` and by ``secrets.SystemRandom()``."""

    def randrange(self, stop: int, /) -> int:
        """Return a uniform integer in [0, stop)."""
        ...

    def getrandbits(self, k: int, /) -> int:
        """Return a uniform integer in [0, 2^k)."""
        ...


def system_random() -> RandomSource:
    """The production source: the operating system's CSPRNG."""
    return secrets.SystemRandom()


def as_fraction(value: RationalLike, name: str) -> Fraction:
    """Convert ``value`` exactly to a non-negative Fraction; raise ValueError for NaN, ±inf or < 0."""
    if isinstance(value, bool) or not isinstance(value, Fraction | int | float):
        raise TypeError(f"{name} must be a Fraction, int or float, got {type(value).__name__}")
    if isinstance(value, float) and not math.isfinite(value):
        raise ValueError(f"{name} must be finite, got {value}")
    exact = Fraction(value)
    if exact < 0:
        raise ValueError(f"{name} must be non-negative, got {value}")
    return exact


def bernoulli_exp(gamma: RationalLike, rng: RandomSource) -> bool:
    """Return True with probability exactly exp(-gamma), for gamma >= 0 (CKS Algorithm 1)."""
    exact = as_fraction(gamma, "gamma")
    return _bernoulli_exp(exact.numerator, exact.denominator, rng)


def discrete_laplace(scale: RationalLike, rng: RandomSource) -> int:
    """Sample X with P[X = x] ∝ exp(-|x| / scale) (CKS Algorithm 2); scale 0 gives 0."""
    exact = as_fraction(scale, "scale")
    if exact == 0:
        return 0
    return _discrete_laplace(exact.numerator, exact.denominator, rng)


def discrete_gaussian(sigma2: RationalLike, rng: RandomSource) -> int:
    """Sample X with P[X = x] ∝ exp(-x² / (2σ²)) for σ² = ``sigma2`` (CKS Algorithm 3); σ² = 0 gives 0."""
    return _GaussianParams.of(sigma2).sample(rng)


def discrete_gaussian_vector(sigma2s: Sequence[RationalLike], rng: RandomSource) -> list[int]:
    """Independent discrete Gaussians, one per entry of ``sigma2s``, drawn in order."""
    params: dict[Fraction, _GaussianParams] = {}
    out = []
    for index, sigma2 in enumerate(sigma2s):
        exact = as_fraction(sigma2, f"sigma2s[{index}]")
        if exact not in params:
            params[exact] = _GaussianParams.of(exact)
        out.append(params[exact].sample(rng))
    return out


def discrete_laplace_vector(scales: Sequence[RationalLike], rng: RandomSource) -> list[int]:
    """Independent discrete Laplace samples, one per entry of ``scales``, drawn in order."""
    exact = [as_fraction(scale, f"scales[{index}]") for index, scale in enumerate(scales)]
    return [0 if s == 0 else _discrete_laplace(s.numerator, s.denominator, rng) for s in exact]


def _bernoulli_exp_unit(num: int, den: int, rng: RandomSource) -> bool:
    """Bernoulli(exp(-num/den)) for 0 <= num <= den: the parity of the first failing Bernoulli(γ/k)."""
    k = 1
    while rng.randrange(den * k) < num:  # Bernoulli(γ/k) with γ/k = num / (den·k)
        k += 1
    return k % 2 == 1


def _bernoulli_exp(num: int, den: int, rng: RandomSource) -> bool:
    """Bernoulli(exp(-num/den)) for any num/den >= 0: exp(-1) once per whole unit, then the remainder."""
    whole, rest = divmod(num, den)
    for _ in range(whole):
        if not _bernoulli_exp_unit(1, 1, rng):
            return False
    return _bernoulli_exp_unit(rest, den, rng)


def _discrete_laplace(t: int, s: int, rng: RandomSource) -> int:
    """Discrete Laplace of scale t/s (t, s >= 1): a geometric of rate 1/t, divided by s, signed."""
    while True:
        u = rng.randrange(t)
        if not _bernoulli_exp_unit(u, t, rng):
            continue
        v = 0
        while _bernoulli_exp_unit(1, 1, rng):
            v += 1
        magnitude = (u + t * v) // s
        if rng.getrandbits(1):
            if magnitude == 0:
                continue  # otherwise 0 would be drawn twice as often as it should
            return -magnitude
        return magnitude


@dataclass(frozen=True)
class _GaussianParams:
    """σ² = num/den with t = ⌊σ⌋ + 1, precomputed once per variance."""

    num: int
    den: int
    t: int

    @classmethod
    def of(cls, sigma2: RationalLike) -> _GaussianParams:
        exact = as_fraction(sigma2, "sigma2")
        num, den = exact.numerator, exact.denominator
        # ⌊√(num/den)⌋ = ⌊√(num·den) / den⌋ = ⌊⌊√(num·den)⌋ / den⌋, in integers only
        return cls(num, den, math.isqrt(num * den) // den + 1)

    def sample(self, rng: RandomSource) -> int:
        if self.num == 0:
            return 0
        num, den, t = self.num, self.den, self.t
        while True:
            y = _discrete_laplace(t, 1, rng)
            # accept with exp(-(|y| - σ²/t)² / (2σ²)); with σ² = num/den that exponent is
            # (|y|·den·t - num)² / (2·num·den·t²)
            offset = abs(y) * den * t - num
            if _bernoulli_exp(offset * offset, 2 * num * den * t * t, rng):
                return y
