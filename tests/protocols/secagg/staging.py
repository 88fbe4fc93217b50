"""Records one complete protocol run stage by stage, so tests can replay any round from any stage."""

import random
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from protocols.fixedpoint import RingArray, ring_dtype
from protocols.secagg import client, server
from protocols.secagg.config import SecAggConfig
from protocols.secagg.messages import (
    AdvertiseKeys,
    KeyTable,
    MaskedInput,
    RelayedShares,
    ShareKeys,
    UnmaskRequest,
    UnmaskResponse,
)


def det_randbytes(seed: int) -> Callable[[int], bytes]:
    """A deterministic stand-in for os.urandom so that runs are reproducible."""
    return random.Random(seed).randbytes


def make_config(n: int = 4, t: int = 3, ring_bits: int = 32, length: int = 8) -> SecAggConfig:
    return SecAggConfig(
        session_id=b"test-session-0001",
        participants=tuple(f"factory-{i}" for i in range(n)),
        threshold=t,
        ring_bits=32 if ring_bits == 32 else 64,
        vector_length=length,
    )


def random_inputs(cfg: SecAggConfig, seed: int = 0) -> dict[str, RingArray]:
    rng = np.random.default_rng(seed)
    dtype = ring_dtype(cfg.ring_bits)
    top = np.iinfo(dtype).max
    return {u: rng.integers(0, top, cfg.vector_length, dtype=dtype, endpoint=True) for u in cfg.participants}


@dataclass
class Recording:
    """Client and server states at the start of every stage, and one real message per round."""

    config: SecAggConfig
    inputs: dict[str, RingArray]
    clients: dict[client.ClientStage, client.ClientState]  # states of the first participant
    server_start: dict[server.ServerStage, server.ServerState]  # before any message of the round
    server_full: dict[server.ServerStage, server.ServerState]  # after every message of the round
    advertise: AdvertiseKeys
    table: KeyTable
    shares: ShareKeys
    relayed: RelayedShares
    masked: MaskedInput
    request: UnmaskRequest
    response: UnmaskResponse
    aggregate: RingArray


def record_run(cfg: SecAggConfig | None = None, seed: int = 0, input_seed: int | None = None) -> Recording:
    cfg = cfg or make_config()
    inputs = random_inputs(cfg, seed if input_seed is None else input_seed)
    rb = det_randbytes(seed)
    S = server.ServerStage
    states = {u: client.new_client(cfg, u) for u in cfg.participants}
    first = cfg.participants[0]
    recorded = {client.ClientStage.INIT: states[first]}
    start, full = {}, {}
    srv = server.new_server(cfg)

    start[S.COLLECTING_KEYS] = srv
    adverts = {}
    for u in cfg.participants:
        states[u], adverts[u] = client.advertise_keys(states[u], randbytes=rb)
        srv = server.receive_keys(srv, adverts[u])
    full[S.COLLECTING_KEYS] = srv
    srv, tables = server.close_keys(srv)
    recorded[client.ClientStage.KEYS_ADVERTISED] = states[first]

    start[S.COLLECTING_SHARES] = srv
    share_msgs = {}
    for u in cfg.participants:
        states[u], share_msgs[u] = client.share_keys(states[u], tables[u], randbytes=rb)
        srv = server.receive_shares(srv, share_msgs[u])
    full[S.COLLECTING_SHARES] = srv
    srv, relayed = server.close_shares(srv)
    recorded[client.ClientStage.SHARES_SENT] = states[first]

    start[S.COLLECTING_MASKED_INPUTS] = srv
    masked_msgs = {}
    for u in cfg.participants:
        states[u], masked_msgs[u] = client.masked_input(states[u], relayed[u], inputs[u])
        srv = server.receive_masked_input(srv, masked_msgs[u])
    full[S.COLLECTING_MASKED_INPUTS] = srv
    srv, requests = server.close_masked_inputs(srv)
    recorded[client.ClientStage.MASKED_INPUT_SENT] = states[first]

    start[S.COLLECTING_UNMASKING] = srv
    responses = {}
    for u in cfg.participants:
        states[u], responses[u] = client.unmask(states[u], requests[u])
        srv = server.receive_unmasking(srv, responses[u])
    full[S.COLLECTING_UNMASKING] = srv
    srv, aggregate = server.close_unmasking(srv)
    recorded[client.ClientStage.DONE] = states[first]
    start[S.DONE] = full[S.DONE] = srv

    return Recording(
        config=cfg,
        inputs=inputs,
        clients=recorded,
        server_start=start,
        server_full=full,
        advertise=adverts[first],
        table=tables[first],
        shares=share_msgs[first],
        relayed=relayed[first],
        masked=masked_msgs[first],
        request=requests[first],
        response=responses[first],
        aggregate=aggregate,
    )
