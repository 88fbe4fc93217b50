"""Property tests: any dropout pattern that leaves >= t parties at every step gives the exact sum over U3."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from protocols.exceptions import ThresholdError
from protocols.fixedpoint import ring_dtype
from protocols.secagg.simulate import DropPoint, simulate
from tests.protocols.secagg.staging import det_randbytes, make_config, random_inputs

POINTS = list(DropPoint)


@st.composite
def scenarios(draw: st.DrawFn, *, enough: bool) -> tuple[int, int, int, int, list[int], int]:
    """(n, t, ring_bits, length, remaining parties after each drop point, seed).

    With ``enough`` every count stays >= t; otherwise the count first falls below t at a drawn point.
    """
    n = draw(st.integers(3, 8))
    t = draw(st.integers(2, n))
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
    return n, t, ring_bits, length, remaining, draw(st.integers(0, 2**32))


def drop_pattern(order: list[str], remaining: list[int]) -> dict[str, DropPoint]:
    """Drop ``order``'s parties from the back so that ``remaining[i]`` survive point i."""
    drops: dict[str, DropPoint] = {}
    for point, alive in zip(POINTS, remaining, strict=True):
        for party in order[alive:]:
            drops.setdefault(party, point)
    return drops


@settings(max_examples=80, deadline=None)
@given(scenario=scenarios(enough=True), data=st.data())
def test_aggregate_is_exact_sum_of_survivors(
    scenario: tuple[int, int, int, int, list[int], int], data: st.DataObject
) -> None:
    n, t, ring_bits, length, remaining, seed = scenario
    cfg = make_config(n, t, ring_bits, length)
    order = data.draw(st.permutations(cfg.participants))
    drops = drop_pattern(list(order), remaining)
    inputs = random_inputs(cfg, seed)

    result = simulate(cfg, inputs, drops, randbytes=det_randbytes(seed))

    expected_u3 = {
        u for u in cfg.participants if drops.get(u, DropPoint.BEFORE_UNMASK) is DropPoint.BEFORE_UNMASK
    }
    assert set(result.survivors) == expected_u3
    assert set(result.dropped) == {u for u, p in drops.items() if p is DropPoint.BEFORE_MASKED_INPUT}
    assert result.aggregate.dtype == ring_dtype(ring_bits)
    # Reference: arbitrary-precision integers, reduced once at the end.
    reference = [sum(int(inputs[u][i]) for u in expected_u3) % 2**ring_bits for i in range(length)]
    assert result.aggregate.tolist() == reference


@settings(max_examples=30, deadline=None)
@given(scenario=scenarios(enough=False))
def test_too_few_parties_refuse_without_aggregate(
    scenario: tuple[int, int, int, int, list[int], int],
) -> None:
    n, t, ring_bits, length, remaining, seed = scenario
    cfg = make_config(n, t, ring_bits, length)
    drops = drop_pattern(list(cfg.participants), remaining)
    with pytest.raises(ThresholdError):
        simulate(cfg, random_inputs(cfg, seed), drops, randbytes=det_randbytes(seed))


def test_no_dropouts_large_vector() -> None:
    cfg = make_config(5, 3, 64, 20_000)
    inputs = random_inputs(cfg, 7)
    result = simulate(cfg, inputs, randbytes=det_randbytes(7))
    total = np.zeros(cfg.vector_length, dtype=ring_dtype(64))
    for vector in inputs.values():
        total += vector  # numpy arrays wrap mod 2^64, which is the ring's addition
    assert np.array_equal(result.aggregate, total)
