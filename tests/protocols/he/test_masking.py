"""Pairwise polynomial masks: they cancel exactly in the sum, and one masked ciphertext decrypts to noise."""

import numpy as np
import pytest

from protocols.he import (
    CKKS_8192,
    CiphertextSpec,
    KeyOwner,
    PublicContext,
    add_masks,
    encrypt,
    load,
    pairwise_masks,
)
from protocols.he._seal import coeff_primes
from protocols.he.ciphertexts import dump
from protocols.he.masking import mask_polynomial, uniform_residues
from protocols.he.scoring import aggregate_scores, decrypt_scores, encrypt_query, score
from protocols.secagg.masking import Sign
from tests.protocols.he.reference import pairwise_seeds

PRIMES = coeff_primes(CKKS_8192)[: CKKS_8192.data_primes]
N = CKKS_8192.poly_modulus_degree


def test_pairwise_signs() -> None:
    seeds = {0: b"a" * 32, 2: b"b" * 32, 3: b"c" * 32}
    assert pairwise_masks(1, seeds) == [(b"a" * 32, -1), (b"b" * 32, 1), (b"c" * 32, 1)]
    with pytest.raises(ValueError):
        pairwise_masks(1, {1: b"a" * 32})


def test_mask_polynomials_cancel_exactly_mod_every_prime() -> None:
    seeds = pairwise_seeds(5, np.random.default_rng(0))
    total = np.zeros((len(PRIMES), N), dtype=np.uint64)
    for i in range(5):
        m = mask_polynomial(pairwise_masks(i, seeds[i]), PRIMES, N, b"label")
        for k, p in enumerate(PRIMES):
            assert (m[k] < p).all()
            total[k] = (total[k] + m[k]) % np.uint64(p)
    assert not total.any()


def test_masks_depend_on_seed_label_and_chunk() -> None:
    masks: list[tuple[bytes, Sign]] = [(bytes(32), 1)]
    base = mask_polynomial(masks, PRIMES, N, b"job-1")
    assert np.array_equal(base, mask_polynomial(masks, PRIMES, N, b"job-1"))
    for other in (
        mask_polynomial(masks, PRIMES, N, b"job-2"),
        mask_polynomial(masks, PRIMES, N, b"job-1", chunk=1),
        mask_polynomial([(bytes(31) + b"\x01", 1)], PRIMES, N, b"job-1"),
    ):
        assert not np.array_equal(base, other)
    with pytest.raises(ValueError):
        mask_polynomial([(bytes(16), 1)], PRIMES, N, b"job-1")


@pytest.mark.parametrize("prime", [*PRIMES, (1 << 40) + 1 + (1 << 39)])  # and one that rejects ~25% of words
def test_residues_are_uniform(prime: int) -> None:
    values = uniform_residues(bytes(range(32)), prime, 1 << 15).astype(np.float64)
    assert values.max() < prime
    # Mean and a 16-bin chi-square; a uniform draw fails these with probability < 1e-6.
    assert abs(values.mean() / prime - 0.5) < 6 / np.sqrt(12 * len(values))
    counts = np.bincount((values / prime * 16).astype(int), minlength=16)
    expected = len(values) / 16
    assert ((counts - expected) ** 2 / expected).sum() < 60


def test_masked_sum_is_bit_for_bit_the_unmasked_sum(ckks_public: PublicContext, ckks_owner: KeyOwner) -> None:
    """Masks cancel exactly mod q, so masking costs no precision — also across ciphertext chunks."""
    rng = np.random.default_rng(1)
    spec = CiphertextSpec.fresh(CKKS_8192, 5000)
    seeds = pairwise_seeds(4, rng)
    parties = [rng.uniform(-100, 100, 5000) for _ in range(4)]
    plain = [load(ckks_public, encrypt(ckks_public, v), spec) for v in parties]
    masked = [add_masks(ckks_public, ct, pairwise_masks(i, seeds[i]), b"agg") for i, ct in enumerate(plain)]
    unmasked_total, masked_total = plain[0].copy(), masked[0].copy()
    for ct in plain[1:]:
        unmasked_total += ct
    for ct in masked[1:]:
        masked_total += ct
    exact = ckks_owner.decrypt(dump(unmasked_total), spec)
    assert np.array_equal(ckks_owner.decrypt(dump(masked_total), spec), exact)
    assert np.abs(exact - np.sum(parties, axis=0)).max() <= 4 * CKKS_8192.fresh_abs_error
    one = ckks_owner.decrypt(dump(masked[0]), spec)
    assert np.abs(one - parties[0]).min() > 1e6  # every slot of a single masked vector is far off


def test_one_masked_score_decrypts_to_noise(scoring_public: PublicContext, scoring_owner: KeyOwner) -> None:
    """The coordinator hands the buyer one node's ciphertext: over fresh seeds it decrypts to values of order
    q/Δ ~ 1e18 with random sign, unrelated to the node's true value (~1e2)."""
    rng = np.random.default_rng(2)
    c = rng.uniform(-1, 1, 10)
    sums = rng.uniform(0, 20, (1, 10))
    query = encrypt_query(scoring_public, c)
    true_value = float(sums[0] @ c)
    decrypted = []
    for trial in range(12):
        seeds = pairwise_seeds(3, np.random.default_rng(100 + trial))
        node0 = score(scoring_public, query, sums, masks=pairwise_masks(0, seeds[0]), noise=[0.0], label=b"j")
        decrypted.append(decrypt_scores(scoring_owner, aggregate_scores(scoring_public, [node0]))[0])
    values = np.array(decrypted)
    assert np.all(np.abs(values - true_value) > 1e12 * (1 + abs(true_value)))
    assert values.std() > 1e15 and (values > 0).any() and (values < 0).any()
    assert len(set(np.round(values, -10))) == len(values)
    unmasked = score(scoring_public, query, sums, masks=[], noise=[0.0], label=b"j")
    assert decrypt_scores(scoring_owner, unmasked)[0] == pytest.approx(true_value, abs=1e-5)
