"""Precomputed masks give exactly the masked input computed on the spot, and both match a naive reference."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from protocols.fixedpoint import unpack
from protocols.secagg import client, server
from protocols.secagg.client import ClientState
from protocols.secagg.config import SecurityMode
from protocols.secagg.keys import mask_seed
from protocols.secagg.masking import prg
from protocols.secagg.messages import RelayedShares
from protocols.secagg.simulate import DropPoint, simulate
from tests.protocols.secagg.staging import (
    MALICIOUS,
    SEMI_HONEST,
    det_randbytes,
    keys_for,
    make_config,
    random_inputs,
)


def _shares_sent(n: int, t: int, ring_bits: int, length: int, seed: int) -> tuple[ClientState, RelayedShares]:
    """factory-0 after the share round, and the envelopes every other member of U1 addressed to it."""
    cfg = make_config(n, t, ring_bits, length, MALICIOUS)
    keys, rb = keys_for(cfg), det_randbytes(seed)
    states = {u: client.new_client(cfg, u) for u in cfg.participants}
    srv = server.new_server(cfg)
    for u in cfg.participants:
        states[u], message = client.advertise_keys(states[u], signing_key=keys[u], randbytes=rb)
        srv = server.receive_keys(srv, message)
    srv, tables = server.close_keys(srv)
    for u in cfg.participants:
        states[u], shares = client.share_keys(states[u], tables[u], randbytes=rb)
        srv = server.receive_shares(srv, shares)
    _, relayed = server.close_shares(srv)
    return states["factory-0"], relayed["factory-0"]


def _naive(state: ClientState, u2: set[str], x: np.ndarray) -> list[int]:
    """y_u = x_u + PRG(b_u) + Σ_{v in U2} ±PRG(s_uv), with Python integers reduced once at the end."""
    cfg, me = state.config, state.client_id
    assert state.self_seed is not None and state.mask_keys is not None
    total = [
        int(v) + int(m)
        for v, m in zip(x, prg(state.self_seed, cfg.vector_length, cfg.ring_bits), strict=True)
    ]
    for v in u2 - {me}:
        later = cfg.position(v) > cfg.position(me)
        first, second = (me, v) if later else (v, me)
        seed = mask_seed(
            state.mask_keys.secret,
            state.key_table[v].mask_public,
            session_id=cfg.session_id,
            first=first,
            second=second,
        )
        sign = 1 if later else -1
        total = [
            a + sign * int(m) for a, m in zip(total, prg(seed, cfg.vector_length, cfg.ring_bits), strict=True)
        ]
    return [a % 2**cfg.ring_bits for a in total]


@settings(max_examples=25, deadline=None)
@given(
    n=st.integers(3, 7),
    ring_bits=st.sampled_from([32, 64]),
    length=st.integers(1, 40),
    seed=st.integers(0, 2**32),
    data=st.data(),
)
def test_prepared_and_direct_masking_agree_with_the_reference(
    n: int, ring_bits: int, length: int, seed: int, data: st.DataObject
) -> None:
    t = 2 * n // 3 + 1
    state, relayed = _shares_sent(n, t, ring_bits, length, seed)
    # Any members of U1 may be missing from U2, as long as t remain.
    senders = sorted(relayed.envelopes)
    kept = data.draw(st.lists(st.sampled_from(senders), min_size=t - 1, max_size=len(senders), unique=True))
    relayed = RelayedShares(relayed.recipient, {v: relayed.envelopes[v] for v in kept})
    x = random_inputs(state.config, seed)[state.client_id]

    _, direct = client.masked_input(state, relayed, x)
    _, prepared = client.masked_input(client.prepare_masks(state), relayed, x)

    assert direct == prepared
    y = unpack(direct.masked, state.config.ring_bits, length)
    assert y.tolist() == _naive(state, {state.client_id, *kept}, x)


@pytest.mark.parametrize("mode", [MALICIOUS, SEMI_HONEST], ids=str)
def test_prepared_masks_cancel_in_a_run_where_a_member_of_u1_leaves(mode: SecurityMode) -> None:
    """factory-1 advertises and is in every prepared sum, then sends no shares: its masks are taken out."""
    cfg = make_config(6, 5, 64, 50, mode)
    inputs = random_inputs(cfg, 9)
    result = simulate(
        cfg, inputs, {"factory-1": DropPoint.BEFORE_SHARE}, signing_keys=keys_for(cfg), prepare=True
    )
    expected = sum((inputs[u] for u in cfg.participants if u != "factory-1"), np.zeros(50, np.uint64))
    assert np.array_equal(result.aggregate, expected)
