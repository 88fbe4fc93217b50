"""Parameter sets: 128-bit security by the HE standard's table, SEAL's view of them, and the documented error
bounds checked against measurements on random data."""

import dataclasses

import numpy as np
import pytest
import tenseal.sealapi as sealapi

from protocols.he import (
    BFV_8192,
    CKKS_4096_SUM,
    CKKS_8192,
    CKKS_16384,
    CiphertextSpec,
    KeyOwner,
    PublicContext,
    aggregate,
    by_name,
    encrypt,
)
from protocols.he._seal import coeff_primes, key_parms_id, rescale_factor
from protocols.he.params import MAX_LOG_Q_128, PARAMETER_SETS, CKKSParams
from protocols.he.scoring import decrypt_scores, encrypt_query, score


@pytest.mark.parametrize("params", list(PARAMETER_SETS.values()), ids=list(PARAMETER_SETS))
def test_every_set_is_128_bit_secure_by_the_standard_table(params: CKKSParams) -> None:
    assert params.log_q <= MAX_LOG_Q_128[params.poly_modulus_degree]
    assert [p.bit_length() for p in coeff_primes(params)] == list(params.coeff_mod_bit_sizes)
    assert by_name(params.name) is params


def test_the_table_is_enforced_at_definition() -> None:
    with pytest.raises(ValueError, match="128-bit"):
        dataclasses.replace(CKKS_8192, coeff_mod_bit_sizes=(60, 60, 60, 60))
    with pytest.raises(ValueError, match="batching"):
        dataclasses.replace(BFV_8192, plain_modulus=1 << 40)
    with pytest.raises(ValueError, match="unknown"):
        by_name("ckks-1024")


def test_bfv_plain_modulus_is_seals_batching_prime() -> None:
    assert BFV_8192.plain_modulus == sealapi.PlainModulus.Batching(8192, 40).value()


def test_parameter_id_is_the_one_tenseal_builds(
    ckks_public: PublicContext, bfv_public: PublicContext
) -> None:
    for public in (ckks_public, bfv_public):
        assert tuple(public.tenseal.seal_context().data.key_parms_id()) == key_parms_id(public.params)
    assert key_parms_id(CKKS_8192) != key_parms_id(BFV_8192)


def test_rescale_factor_is_the_dropped_prime_over_the_scale() -> None:
    assert rescale_factor(CKKS_8192) == coeff_primes(CKKS_8192)[2] / 2**40
    assert abs(rescale_factor(CKKS_8192) - 1) < 1e-6


def test_ckks_8192_fresh_and_aggregate_error_within_documented_bound(
    ckks_public: PublicContext, ckks_owner: KeyOwner
) -> None:
    rng = np.random.default_rng(1)
    spec = CiphertextSpec.fresh(CKKS_8192, CKKS_8192.slot_count)
    worst = 0.0
    for magnitude in (1.0, 1e3, 1e6):
        values = rng.uniform(-magnitude, magnitude, CKKS_8192.slot_count)
        worst = max(
            worst, float(np.abs(ckks_owner.decrypt(encrypt(ckks_public, values), spec) - values).max())
        )
    assert worst <= CKKS_8192.fresh_abs_error
    parties = [rng.uniform(-1e3, 1e3, 1000) for _ in range(5)]
    total = aggregate(
        ckks_public, [encrypt(ckks_public, v) for v in parties], CiphertextSpec.fresh(CKKS_8192, 1000)
    )
    error = np.abs(ckks_owner.decrypt(total, CiphertextSpec.fresh(CKKS_8192, 1000)) - np.sum(parties, axis=0))
    assert error.max() <= 5 * CKKS_8192.fresh_abs_error


def _worst_dot_error(public: PublicContext, owner: KeyOwner, rng: np.random.Generator) -> float:
    params = public.params
    assert isinstance(params, CKKSParams)
    worst = 0.0
    cases = [(1e-3, 1e2, 153), (1.0, 1e4, 969), (1e3, 1e6, params.slot_count - 1)] + [(1.0, 1e6, 1)] * 8
    for c_scale, sum_scale, monomials in cases:
        c = rng.uniform(-c_scale, c_scale, monomials)
        # Monomial sums are lopsided (S_0 is the row count); one monomial alone is the worst case.
        sums = rng.uniform(-sum_scale, sum_scale, (1, monomials))
        result = score(public, encrypt_query(public, c), sums, masks=[], noise=[0.0], label=b"precision")
        got = decrypt_scores(owner, result)[0]
        scale = (1 + np.abs(c).max()) * (1 + np.abs(sums).sum())
        worst = max(worst, abs(got - float(sums[0] @ c)) / scale)
    return worst


def test_ckks_8192_dot_error_within_documented_bound(
    scoring_public: PublicContext, scoring_owner: KeyOwner
) -> None:
    assert (
        _worst_dot_error(scoring_public, scoring_owner, np.random.default_rng(2)) <= CKKS_8192.dot_rel_error
    )


def test_ckks_16384_fresh_error_within_documented_bound() -> None:
    owner = KeyOwner(CKKS_16384, n_threads=2)
    values = np.random.default_rng(3).uniform(-1e6, 1e6, CKKS_16384.slot_count)
    spec = CiphertextSpec.fresh(CKKS_16384, CKKS_16384.slot_count)
    error = np.abs(owner.decrypt(encrypt(owner.public, values), spec) - values)
    assert error.max() <= CKKS_16384.fresh_abs_error


@pytest.mark.slow
def test_ckks_16384_dot_error_within_documented_bound() -> None:
    owner = KeyOwner(CKKS_16384, galois_keys=True, n_threads=2)  # ~326 MB of Galois keys, ~15 s
    assert _worst_dot_error(owner.public, owner, np.random.default_rng(4)) <= CKKS_16384.dot_rel_error


def test_the_aggregation_set_sums_within_its_bound_and_cannot_score() -> None:
    owner = KeyOwner(CKKS_4096_SUM)
    rng = np.random.default_rng(6)
    spec = CiphertextSpec.fresh(CKKS_4096_SUM, CKKS_4096_SUM.slot_count)
    for magnitude in (1.0, 1e4, 2.0**28 / 5):  # five parties' values whose sum stays below 2^28
        parties = [rng.uniform(-magnitude, magnitude, CKKS_4096_SUM.slot_count) for _ in range(5)]
        total = aggregate(owner.public, [encrypt(owner.public, v) for v in parties], spec)
        error = np.abs(owner.decrypt(total, spec) - np.sum(parties, axis=0))
        assert error.max() <= CKKS_4096_SUM.fresh_abs_error
    assert not CKKS_4096_SUM.can_score and CKKS_8192.can_score
    with pytest.raises(ValueError, match="level to spend"):
        encrypt_query(owner.public, np.ones(3))


def test_bfv_sums_are_exact(bfv_public: PublicContext, bfv_owner: KeyOwner) -> None:
    rng = np.random.default_rng(5)
    bound = BFV_8192.max_abs_sum // 5
    parties = [rng.integers(-bound, bound, 1000) for _ in range(5)]
    spec = CiphertextSpec.fresh(BFV_8192, 1000)
    total = aggregate(bfv_public, [encrypt(bfv_public, v) for v in parties], spec)
    assert np.array_equal(bfv_owner.decrypt_integers(total, spec), np.sum(parties, axis=0))
