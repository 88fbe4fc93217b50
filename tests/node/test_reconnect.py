"""How long a node waits between dials: exponential backoff with jitter, capped by a setting."""

from __future__ import annotations

import random

import pytest

from node.agent import DEFAULT_RECONNECT_MAX_S, Backoff, reconnect_max_s
from node.exceptions import ConfigError


def test_delays_double_with_jitter_up_to_the_cap_and_restart_after_a_welcome() -> None:
    backoff = Backoff(initial=0.5, maximum=4.0, rng=random.Random(7))
    delays = [backoff.next_delay() for _ in range(8)]
    ceilings = [0.5, 1, 2, 4, 4, 4, 4, 4]
    assert all(c / 2 <= d <= c for d, c in zip(delays, ceilings, strict=True))
    backoff.reset()
    assert 0.25 <= backoff.next_delay() <= 0.5


def test_the_cap_comes_from_the_environment() -> None:
    assert reconnect_max_s({}) == DEFAULT_RECONNECT_MAX_S == 30
    assert reconnect_max_s({"DATASPACE_RECONNECT_MAX_S": "2.5"}) == 2.5
    for bad in ("soon", "0.1", "7200", "nan"):
        with pytest.raises(ConfigError, match="DATASPACE_RECONNECT_MAX_S"):
            reconnect_max_s({"DATASPACE_RECONNECT_MAX_S": bad})
