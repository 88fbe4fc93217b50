"""Named CKKS and BFV parameter sets: ring degree, modulus chain, scale, security and measured precision.

Security follows the HomomorphicEncryption.org standard (Albrecht et al., "Homomorphic Encryption Standard",
2018, table for ternary secrets, classical attacks): 128-bit security holds while the total coefficient
modulus log q stays at or below 27, 54, 109, 218, 438, 881 bits for N = 1024 ... 32768. SEAL enforces the
same table when it builds a context, so a set that breaks it cannot even be created; ``__post_init__``
refuses it earlier.

The error bounds are what ``tests/protocols/he/test_params.py`` checks on fresh random data, with about a
factor of three to five between the bound and the worst case we measured (TenSEAL 0.3.18, SEAL 4.3):

- ``CKKS_8192`` (log q = 200 <= 218, 128-bit): |decrypt(encrypt(x)) - x| <= 5e-8 per slot (measured 8.7e-9 for
  |x| <= 1e6); a ciphertext-plaintext dot product <c, S> errs by at most 2e-8 * (1 + max|c|) * (1 + sum|S|)
  once the scale is corrected. The query's own encryption error, slot by slot times S_α, dominates: measured
  1.8e-9 with S concentrated on one monomial (a row count), 6.4e-10 with S spread over 4096 slots.
- ``CKKS_16384`` (log q = 360 <= 438, 128-bit): fresh error <= 1e-7 (measured 1.7e-8); dot product
  4e-8 * (1 + max|c|) * (1 + sum|S|) (measured 2.5e-10, spread S). Its Galois keys alone serialise to ~326 MB,
  so use it for aggregation (no Galois keys, ~1 MB context) and keep scoring on ``CKKS_8192`` (~34 MB).
- ``CKKS_4096_SUM`` (log q = 109 <= 109, 128-bit): for aggregation only (no level to spend, so no scoring),
  a quarter of the work and a fifth of the bytes of ``CKKS_8192``: 2048 slots, scale 2^30, values and sums
  below 2^28 (~2.7e8) in absolute value; |error| <= 5e-5 per slot of a sum of five parties' fresh ciphertexts
  (measured 1.0e-5 for values up to 1e8, independent of their size).
- ``BFV_8192`` (log q = 218 <= 218, 128-bit): exact arithmetic modulo the 40-bit batching prime t; a sum is
  exact while it stays in (-t/2, t/2), i.e. below 2^39 in absolute value.
"""

from __future__ import annotations

from dataclasses import dataclass
from types import MappingProxyType
from typing import Final

MAX_LOG_Q_128: Final = MappingProxyType({1024: 27, 2048: 54, 4096: 109, 8192: 218, 16384: 438, 32768: 881})
SECURITY_BITS: Final = 128
MIB: Final = 1 << 20


def _check_chain(name: str, degree: int, bit_sizes: tuple[int, ...]) -> None:
    if degree not in MAX_LOG_Q_128:
        raise ValueError(f"{name}: N={degree} is not a power of two in the security table")
    if sum(bit_sizes) > MAX_LOG_Q_128[degree]:
        raise ValueError(
            f"{name}: log q = {sum(bit_sizes)} exceeds {MAX_LOG_Q_128[degree]} for 128-bit security"
        )
    if any(not 20 <= b <= 60 for b in bit_sizes):
        raise ValueError(f"{name}: SEAL primes must have 20 to 60 bits, got {bit_sizes}")


class _ModulusChain:
    """What both schemes derive from their coefficient modulus chain (the last prime is the special one)."""

    coeff_mod_bit_sizes: tuple[int, ...]

    @property
    def data_primes(self) -> int:
        """How many primes a fresh ciphertext carries (all but the special prime)."""
        return len(self.coeff_mod_bit_sizes) - 1

    @property
    def log_q(self) -> int:
        return sum(self.coeff_mod_bit_sizes)


@dataclass(frozen=True)
class CKKSParams(_ModulusChain):
    """A CKKS parameter set. The last prime of the chain is SEAL's special (key-switching) prime."""

    name: str
    poly_modulus_degree: int
    coeff_mod_bit_sizes: tuple[int, ...]
    scale_bits: int
    fresh_abs_error: float
    dot_rel_error: float
    max_public_context_bytes: int
    max_ciphertext_bytes: int

    def __post_init__(self) -> None:
        _check_chain(self.name, self.poly_modulus_degree, self.coeff_mod_bit_sizes)
        if len(self.coeff_mod_bit_sizes) < 2:
            raise ValueError(f"{self.name}: need at least one data prime and the special prime")
        # A level is spent by rescaling by a middle prime, so the scale must fit every one of them, and
        # values must stay below the first prime over the scale.
        if self.scale_bits > min(self.coeff_mod_bit_sizes[1:-1], default=self.coeff_mod_bit_sizes[0] - 1):
            raise ValueError(f"{self.name}: scale 2^{self.scale_bits} exceeds the primes")

    @property
    def can_score(self) -> bool:
        """Scoring spends one level (multiply by plaintext, rescale) and keeps two data primes after it."""
        return len(self.coeff_mod_bit_sizes) >= 4

    @property
    def scheme(self) -> str:
        return "ckks"

    @property
    def slot_count(self) -> int:
        return self.poly_modulus_degree // 2

    @property
    def scale(self) -> float:
        return float(2**self.scale_bits)


@dataclass(frozen=True)
class BFVParams(_ModulusChain):
    """A BFV parameter set with a batching plaintext modulus (prime, 1 mod 2N): N integer slots mod t."""

    name: str
    poly_modulus_degree: int
    plain_modulus: int
    coeff_mod_bit_sizes: tuple[int, ...]
    max_public_context_bytes: int
    max_ciphertext_bytes: int

    def __post_init__(self) -> None:
        _check_chain(self.name, self.poly_modulus_degree, self.coeff_mod_bit_sizes)
        if self.plain_modulus % (2 * self.poly_modulus_degree) != 1:
            raise ValueError(f"{self.name}: plain modulus must be 1 mod 2N for batching")

    @property
    def scheme(self) -> str:
        return "bfv"

    @property
    def slot_count(self) -> int:
        return self.poly_modulus_degree

    @property
    def max_abs_sum(self) -> int:
        """Largest |sum| that decrypts exactly (balanced residues mod t)."""
        return (self.plain_modulus - 1) // 2


HEParams = CKKSParams | BFVParams

CKKS_8192: Final = CKKSParams(
    name="ckks-8192",
    poly_modulus_degree=8192,
    coeff_mod_bit_sizes=(60, 40, 40, 60),
    scale_bits=40,
    fresh_abs_error=5e-8,
    dot_rel_error=2e-8,
    # With Galois keys the public context is ~35 MB; a ciphertext is ~0.35 MB compressed, 0.4 MB raw.
    max_public_context_bytes=48 * MIB,
    max_ciphertext_bytes=MIB,
)

CKKS_16384: Final = CKKSParams(
    name="ckks-16384",
    poly_modulus_degree=16384,
    coeff_mod_bit_sizes=(60, 40, 40, 40, 40, 40, 40, 60),
    scale_bits=40,
    fresh_abs_error=1e-7,
    dot_rel_error=4e-8,
    max_public_context_bytes=400 * MIB,
    max_ciphertext_bytes=3 * MIB,
)

CKKS_4096_SUM: Final = CKKSParams(
    name="ckks-4096-sum",
    poly_modulus_degree=4096,
    coeff_mod_bit_sizes=(60, 49),
    scale_bits=30,
    fresh_abs_error=5e-5,
    dot_rel_error=float("nan"),  # no dot product: the set has no level to spend
    max_public_context_bytes=4 * MIB,
    max_ciphertext_bytes=MIB // 4,
)

BFV_8192: Final = BFVParams(
    name="bfv-8192",
    poly_modulus_degree=8192,
    plain_modulus=1099511480321,  # the 40-bit prime SEAL's PlainModulus.Batching(8192, 40) returns
    coeff_mod_bit_sizes=(43, 43, 44, 44, 44),  # SEAL's BFVDefault(8192) chain: 218 bits
    max_public_context_bytes=48 * MIB,
    max_ciphertext_bytes=MIB,
)

PARAMETER_SETS: Final = MappingProxyType(
    {p.name: p for p in (CKKS_8192, CKKS_16384, CKKS_4096_SUM, BFV_8192)}
)


def by_name(name: str) -> HEParams:
    """The named set; a contract or job ticket names its set, it never carries raw parameters."""
    try:
        return PARAMETER_SETS[name]
    except KeyError:
        raise ValueError(f"unknown HE parameter set {name!r}; known: {sorted(PARAMETER_SETS)}") from None
