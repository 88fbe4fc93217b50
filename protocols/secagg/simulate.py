"""In-memory run of a server and n clients with chosen dropouts: for tests, benchmarks, and as a recipe."""

import dataclasses
import os
from collections.abc import Callable, Collection, Iterable, Mapping
from dataclasses import dataclass
from enum import Enum

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from protocols.fixedpoint import RingArray
from protocols.secagg import client, server
from protocols.secagg.config import SecAggConfig
from protocols.secagg.messages import ConsistencyRequest, UnmaskRequest, UnmaskResponse
from protocols.secagg.shamir import PRIME, SHARE_BYTES

RandBytes = Callable[[int], bytes]


class DropPoint(Enum):
    """When a client stops sending; it never comes back."""

    BEFORE_ADVERTISE = 0  # not in U1
    BEFORE_SHARE = 1  # in U1, not in U2
    BEFORE_MASKED_INPUT = 2  # in U2, not in U3: its pairwise masks must be removed
    BEFORE_CONSISTENCY = 3  # in U3 but does not sign it (malicious mode; else as BEFORE_UNMASK)
    BEFORE_UNMASK = 4  # in U3 (its input counts) but does not help unmasking


@dataclass(frozen=True)
class SimulationResult:
    aggregate: RingArray
    survivors: tuple[str, ...]  # U3: exactly the parties whose inputs are in the aggregate
    dropped: tuple[str, ...]  # U2 minus U3
    excluded: Mapping[str, str]  # responders the server caught sending wrong shares


def new_signing_keys(
    participants: Iterable[str], randbytes: RandBytes = os.urandom
) -> dict[str, Ed25519PrivateKey]:
    """One Ed25519 key per participant; reproducible with a deterministic ``randbytes``."""
    return {p: Ed25519PrivateKey.from_private_bytes(randbytes(32)) for p in participants}


def verify_keys_of(signing_keys: Mapping[str, Ed25519PrivateKey]) -> dict[str, bytes]:
    return {p: key.public_key().public_bytes_raw() for p, key in signing_keys.items()}


def simulate(
    config: SecAggConfig,
    inputs: Mapping[str, RingArray],
    drop_at: Mapping[str, DropPoint] | None = None,
    *,
    signing_keys: Mapping[str, Ed25519PrivateKey] | None = None,
    prepare: bool = True,
    corrupt_shares_of: Collection[str] = (),
    randbytes: RandBytes = os.urandom,
) -> SimulationResult:
    """Drive every round in order; ThresholdError propagates from whichever side refuses first.

    Malicious mode needs ``signing_keys`` matching ``config.verify_keys``. With ``prepare`` each client
    precomputes its masks between the share and masked-input rounds, as a node does while it waits. Each
    party in ``corrupt_shares_of`` reveals a wrong (but well-formed) value for every share it sends.
    """
    drops = drop_at or {}
    keys = signing_keys or {}
    if config.malicious and set(keys) != set(config.participants):
        raise ValueError("malicious mode needs a signing key for every participant")
    clients = {u: client.new_client(config, u) for u in config.participants}
    srv = server.new_server(config)

    def alive(point: DropPoint, among: Iterable[str]) -> list[str]:
        return [u for u in among if u not in drops or drops[u].value > point.value]

    for u in alive(DropPoint.BEFORE_ADVERTISE, clients):
        clients[u], keys_msg = client.advertise_keys(clients[u], signing_key=keys.get(u), randbytes=randbytes)
        srv = server.receive_keys(srv, keys_msg)
    srv, tables = server.close_keys(srv)
    for u in alive(DropPoint.BEFORE_SHARE, tables):
        clients[u], share_msg = client.share_keys(clients[u], tables[u], randbytes=randbytes)
        srv = server.receive_shares(srv, share_msg)
        if prepare:
            clients[u] = client.prepare_masks(clients[u])
    srv, relayed = server.close_shares(srv)
    for u in alive(DropPoint.BEFORE_MASKED_INPUT, relayed):
        clients[u], masked_msg = client.masked_input(clients[u], relayed[u], inputs[u])
        srv = server.receive_masked_input(srv, masked_msg)
    srv, first_requests = server.close_masked_inputs(srv)
    requests: Mapping[str, ConsistencyRequest | UnmaskRequest] = first_requests
    if config.malicious:
        for u in alive(DropPoint.BEFORE_CONSISTENCY, requests):
            request = requests[u]
            assert isinstance(request, ConsistencyRequest)
            clients[u], signature = client.consistency(clients[u], request, signing_key=keys[u])
            srv = server.receive_consistency(srv, signature)
        srv, requests = server.close_consistency(srv)
    for u in alive(DropPoint.BEFORE_UNMASK, requests):
        request = requests[u]
        assert isinstance(request, UnmaskRequest)
        clients[u], response = client.unmask(clients[u], request)
        srv = server.receive_unmasking(srv, _corrupted(response) if u in corrupt_shares_of else response)
    srv, aggregate = server.close_unmasking(srv)
    return SimulationResult(aggregate=aggregate, survivors=srv.u3, dropped=srv.dropped, excluded=srv.excluded)


def _corrupted(response: UnmaskResponse) -> UnmaskResponse:
    """Every share moved off the dealer's polynomial by adding one, so it stays a valid field element."""

    def shift(shares: Mapping[str, bytes]) -> dict[str, bytes]:
        return {
            v: ((int.from_bytes(s, "big") + 1) % PRIME).to_bytes(SHARE_BYTES, "big")
            for v, s in shares.items()
        }

    return dataclasses.replace(
        response,
        self_mask_shares=shift(response.self_mask_shares),
        mask_key_shares=shift(response.mask_key_shares),
    )
