"""Property tests: any dropout pattern that leaves >= t parties at every step gives the exact sum over U3."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from protocols.exceptions import ThresholdError
from protocols.fixedpoint import ring_dtype
from protocols.secagg.config import SecurityMode, threshold_floor
from protocols.secagg.simulate import DropPoint, simulate
from tests.protocols.secagg.staging import (
    det_randbytes,
    keys_for,
    make_config,
    plain_sum,
    random_inputs,
)

POINTS = list(DropPoint)
IN_SUM = {DropPoint.BEFORE_CONSISTENCY, DropPoint.BEFORE_UNMASK}  # dropped after sending masked input

Scenario = tuple[SecurityMode, int, int, int, int, list[int], int]


@st.composite
def scenarios(draw: st.DrawFn, *, enough: bool) -> Scenario:
    """(mode, n, t, ring_bits, length, remaining parties after each drop point, seed).

    With ``enough`` every count stays >= t; otherwise the count first falls below t at a drawn point.
    """
    mode = draw(st.sampled_from(list(SecurityMode)))
    n = draw(st.integers(3, 8))
    lowest = threshold_floor(n, 2) if mode is SecurityMode.MALICIOUS else 2
    t = draw(st.integers(lowest, n))
    fail_at = len(POINTS) if enough else draw(st.integers(0, len(POINTS) - 1))
    remaining: list[int] = []
    alive = n
    for i in range(len(POINTS)):
        if i < fail_at:
            alive = draw(st.integers(t, alive))
        elif i == fail_at:
            alive = draw(st.integers(0, t - 1))
        remaining.append(alive)
    ring_bits = draw(st.sampled_from([32, 64]))
    length = draw(st.integers(1, 12))
    return mode, n, t, ring_bits, length, remaining, draw(st.integers(0, 2**32))


def drop_pattern(order: list[str], remaining: list[int]) -> dict[str, DropPoint]:
    """Drop ``order``'s parties from the back so that ``remaining[i]`` survive point i."""
    drops: dict[str, DropPoint] = {}
    for point, alive in zip(POINTS, remaining, strict=True):
        for party in order[alive:]:
            drops.setdefault(party, point)
    return drops


@settings(max_examples=80, deadline=None)
@given(scenario=scenarios(enough=True), prepare=st.booleans(), data=st.data())
def test_aggregate_is_exact_sum_of_survivors(scenario: Scenario, prepare: bool, data: st.DataObject) -> None:
    mode, n, t, ring_bits, length, remaining, seed = scenario
    cfg = make_config(n, t, ring_bits, length, mode)
    order = data.draw(st.permutations(cfg.participants))
    drops = drop_pattern(list(order), remaining)
    inputs = random_inputs(cfg, seed)

    result = simulate(
        cfg, inputs, drops, signing_keys=keys_for(cfg), prepare=prepare, randbytes=det_randbytes(seed)
    )

    expected_u3 = {u for u in cfg.participants if u not in drops or drops[u] in IN_SUM}
    assert set(result.survivors) == expected_u3
    assert set(result.dropped) == {u for u, p in drops.items() if p is DropPoint.BEFORE_MASKED_INPUT}
    assert result.aggregate.dtype == ring_dtype(ring_bits)
    assert result.aggregate.tolist() == plain_sum(cfg, inputs, expected_u3)
    assert not result.excluded


@settings(max_examples=30, deadline=None)
@given(scenario=scenarios(enough=False))
def test_too_few_parties_refuse_without_aggregate(scenario: Scenario) -> None:
    mode, n, t, ring_bits, length, remaining, seed = scenario
    cfg = make_config(n, t, ring_bits, length, mode)
    drops = drop_pattern(list(cfg.participants), remaining)
    with pytest.raises(ThresholdError):
        simulate(
            cfg, random_inputs(cfg, seed), drops, signing_keys=keys_for(cfg), randbytes=det_randbytes(seed)
        )


@settings(max_examples=25, deadline=None)
@given(
    n=st.integers(4, 9),
    extra=st.integers(0, 2),
    liars=st.integers(1, 3),
    dropped=st.integers(0, 2),
    seed=st.integers(0, 2**32),
    data=st.data(),
)
def test_liars_are_named_and_the_sum_stays_exact(
    n: int, extra: int, liars: int, dropped: int, seed: int, data: st.DataObject
) -> None:
    """Malicious mode: while t honest responders remain, lying responders change nothing but get named."""
    t = min(n, threshold_floor(n, 2) + extra)
    dropped = min(dropped, n - t)
    liars = min(liars, n - dropped - t)
    if liars < 1:
        return
    cfg = make_config(n, t, 64, 5)
    order = list(data.draw(st.permutations(cfg.participants)))
    drops = {u: DropPoint.BEFORE_MASKED_INPUT for u in order[:dropped]}
    lying = set(order[dropped : dropped + liars])
    inputs = random_inputs(cfg, seed)

    result = simulate(
        cfg, inputs, drops, signing_keys=keys_for(cfg), corrupt_shares_of=lying, randbytes=det_randbytes(seed)
    )

    assert result.aggregate.tolist() == plain_sum(cfg, inputs, result.survivors)
    assert set(result.survivors) == set(cfg.participants) - set(drops)
    # Each liar corrupts every share it reveals and there is always a spare honest share to disagree with
    # it, so every liar is named, even two whose errors cancel in the secret (found by hypothesis: n = 7).
    assert set(result.excluded) == lying


def test_no_dropouts_large_vector() -> None:
    cfg = make_config(5, 4, 64, 20_000)
    inputs = random_inputs(cfg, 7)
    result = simulate(cfg, inputs, signing_keys=keys_for(cfg), randbytes=det_randbytes(7))
    total = np.zeros(cfg.vector_length, dtype=ring_dtype(64))
    for vector in inputs.values():
        total += vector  # numpy arrays wrap mod 2^64, which is the ring's addition
    assert np.array_equal(result.aggregate, total)
