"""Records one complete protocol run stage by stage, so tests can replay any round from any stage."""

import random
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass

import numpy as np
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from protocols.fixedpoint import RingArray, ring_dtype
from protocols.secagg import client, server
from protocols.secagg.config import SecAggConfig, SecurityMode
from protocols.secagg.messages import (
    AdvertiseKeys,
    ConsistencyRequest,
    ConsistencySignature,
    KeyTable,
    MaskedInput,
    RelayedShares,
    ShareKeys,
    UnmaskRequest,
    UnmaskResponse,
)
from protocols.secagg.simulate import new_signing_keys, verify_keys_of

MALICIOUS, SEMI_HONEST = SecurityMode.MALICIOUS, SecurityMode.SEMI_HONEST
# Enough ids for every test; each participant's key is fixed, as an enrolled node's would be.
SIGNING_KEYS: dict[str, Ed25519PrivateKey] = new_signing_keys(
    (f"factory-{i}" for i in range(40)), random.Random(99).randbytes
)


def det_randbytes(seed: int) -> Callable[[int], bytes]:
    """A deterministic stand-in for os.urandom so that runs are reproducible."""
    return random.Random(seed).randbytes


def make_config(
    n: int = 4, t: int = 3, ring_bits: int = 32, length: int = 8, mode: SecurityMode = MALICIOUS
) -> SecAggConfig:
    participants = tuple(f"factory-{i}" for i in range(n))
    return SecAggConfig(
        session_id=b"test-session-0001",
        participants=participants,
        threshold=t,
        ring_bits=32 if ring_bits == 32 else 64,
        vector_length=length,
        verify_keys=verify_keys_of({p: SIGNING_KEYS[p] for p in participants}),
        mode=mode,
    )


def keys_for(cfg: SecAggConfig) -> dict[str, Ed25519PrivateKey]:
    return {p: SIGNING_KEYS[p] for p in cfg.participants}


def random_inputs(cfg: SecAggConfig, seed: int = 0) -> dict[str, RingArray]:
    rng = np.random.default_rng(seed)
    dtype = ring_dtype(cfg.ring_bits)
    top = np.iinfo(dtype).max
    return {u: rng.integers(0, top, cfg.vector_length, dtype=dtype, endpoint=True) for u in cfg.participants}


def plain_sum(cfg: SecAggConfig, inputs: Mapping[str, RingArray], parties: Iterable[str]) -> list[int]:
    """Reference: arbitrary-precision integer sums of ``parties``' inputs, reduced once at the end."""
    chosen = list(parties)
    modulus = 2**cfg.ring_bits
    return [sum(int(inputs[u][i]) for u in chosen) % modulus for i in range(cfg.vector_length)]


@dataclass
class Recording:
    """Client and server states at the start of every reachable stage, and one real message per round."""

    config: SecAggConfig
    inputs: dict[str, RingArray]
    signing_keys: dict[str, Ed25519PrivateKey]
    clients: dict[client.ClientStage, client.ClientState]  # states of the first participant
    server_start: dict[server.ServerStage, server.ServerState]  # before any message of the round
    server_full: dict[server.ServerStage, server.ServerState]  # after every message of the round
    advertise: AdvertiseKeys
    table: KeyTable
    shares: ShareKeys
    relayed: RelayedShares
    masked: MaskedInput
    consistency_request: ConsistencyRequest | None
    consistency: ConsistencySignature | None
    request: UnmaskRequest
    response: UnmaskResponse
    aggregate: RingArray


def record_run(cfg: SecAggConfig | None = None, seed: int = 0, input_seed: int | None = None) -> Recording:
    """Run with every participant; the first one also passes through the optional prepare_masks step."""
    cfg = cfg or make_config()
    inputs = random_inputs(cfg, seed if input_seed is None else input_seed)
    rb, keys = det_randbytes(seed), keys_for(cfg)
    C, S = client.ClientStage, server.ServerStage
    states = {u: client.new_client(cfg, u) for u in cfg.participants}
    first = cfg.participants[0]
    recorded = {C.INIT: states[first]}
    start, full = {}, {}
    srv = server.new_server(cfg)

    start[S.COLLECTING_KEYS] = srv
    adverts = {}
    for u in cfg.participants:
        states[u], adverts[u] = client.advertise_keys(states[u], signing_key=keys[u], randbytes=rb)
        srv = server.receive_keys(srv, adverts[u])
    full[S.COLLECTING_KEYS] = srv
    srv, tables = server.close_keys(srv)
    recorded[C.KEYS_ADVERTISED] = states[first]

    start[S.COLLECTING_SHARES] = srv
    share_msgs = {}
    for u in cfg.participants:
        states[u], share_msgs[u] = client.share_keys(states[u], tables[u], randbytes=rb)
        srv = server.receive_shares(srv, share_msgs[u])
    full[S.COLLECTING_SHARES] = srv
    srv, relayed = server.close_shares(srv)
    recorded[C.SHARES_SENT] = states[first]
    states[first] = recorded[C.MASKS_PREPARED] = client.prepare_masks(states[first])

    start[S.COLLECTING_MASKED_INPUTS] = srv
    masked_msgs = {}
    for u in cfg.participants:
        states[u], masked_msgs[u] = client.masked_input(states[u], relayed[u], inputs[u])
        srv = server.receive_masked_input(srv, masked_msgs[u])
    full[S.COLLECTING_MASKED_INPUTS] = srv
    srv, requests = server.close_masked_inputs(srv)
    recorded[C.MASKED_INPUT_SENT] = states[first]

    consistency_request, signatures = None, {}
    if cfg.malicious:
        start[S.COLLECTING_CONSISTENCY] = srv
        for u in cfg.participants:
            request = requests[u]
            assert isinstance(request, ConsistencyRequest)
            consistency_request = consistency_request or request
            states[u], signatures[u] = client.consistency(states[u], request, signing_key=keys[u])
            srv = server.receive_consistency(srv, signatures[u])
        full[S.COLLECTING_CONSISTENCY] = srv
        srv, unmask_requests = server.close_consistency(srv)
        recorded[C.CONSISTENCY_SIGNED] = states[first]
    else:
        unmask_requests = {u: r for u, r in requests.items() if isinstance(r, UnmaskRequest)}

    start[S.COLLECTING_UNMASKING] = srv
    responses = {}
    for u in cfg.participants:
        states[u], responses[u] = client.unmask(states[u], unmask_requests[u])
        srv = server.receive_unmasking(srv, responses[u])
    full[S.COLLECTING_UNMASKING] = srv
    srv, aggregate = server.close_unmasking(srv)
    recorded[C.DONE] = states[first]
    start[S.DONE] = full[S.DONE] = srv

    return Recording(
        config=cfg,
        inputs=inputs,
        signing_keys=keys,
        clients=recorded,
        server_start=start,
        server_full=full,
        advertise=adverts[first],
        table=tables[first],
        shares=share_msgs[first],
        relayed=relayed[first],
        masked=masked_msgs[first],
        consistency_request=consistency_request,
        consistency=signatures.get(first),
        request=unmask_requests[first],
        response=responses[first],
        aggregate=aggregate,
    )
