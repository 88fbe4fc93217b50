"""In-memory run of a server and n clients with chosen dropouts: for tests, benchmarks, and as a recipe."""

import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from enum import Enum

from protocols.fixedpoint import RingArray
from protocols.secagg import client, server
from protocols.secagg.config import SecAggConfig


class DropPoint(Enum):
    """When a client stops sending; it never comes back."""

    BEFORE_ADVERTISE = 0  # not in U1
    BEFORE_SHARE = 1  # in U1, not in U2
    BEFORE_MASKED_INPUT = 2  # in U2, not in U3: its pairwise masks must be removed
    BEFORE_UNMASK = 3  # in U3 (its input counts) but does not help unmasking


@dataclass(frozen=True)
class SimulationResult:
    aggregate: RingArray
    survivors: tuple[str, ...]  # U3: exactly the parties whose inputs are in the aggregate
    dropped: tuple[str, ...]  # U2 minus U3


def simulate(
    config: SecAggConfig,
    inputs: Mapping[str, RingArray],
    drop_at: Mapping[str, DropPoint] | None = None,
    *,
    randbytes: Callable[[int], bytes] = os.urandom,
) -> SimulationResult:
    """Drive every round in order; ThresholdError propagates from whichever side refuses first."""
    drops = drop_at or {}
    clients = {u: client.new_client(config, u) for u in config.participants}
    srv = server.new_server(config)

    def alive(point: DropPoint) -> list[str]:
        return [u for u in clients if u not in drops or drops[u].value > point.value]

    for u in alive(DropPoint.BEFORE_ADVERTISE):
        clients[u], keys_msg = client.advertise_keys(clients[u], randbytes=randbytes)
        srv = server.receive_keys(srv, keys_msg)
    srv, tables = server.close_keys(srv)
    for u in alive(DropPoint.BEFORE_SHARE):
        clients[u], share_msg = client.share_keys(clients[u], tables[u], randbytes=randbytes)
        srv = server.receive_shares(srv, share_msg)
    srv, relayed = server.close_shares(srv)
    for u in alive(DropPoint.BEFORE_MASKED_INPUT):
        clients[u], masked_msg = client.masked_input(clients[u], relayed[u], inputs[u])
        srv = server.receive_masked_input(srv, masked_msg)
    srv, requests = server.close_masked_inputs(srv)
    for u in alive(DropPoint.BEFORE_UNMASK):
        clients[u], unmask_msg = client.unmask(clients[u], requests[u])
        srv = server.receive_unmasking(srv, unmask_msg)
    srv, aggregate = server.close_unmasking(srv)
    return SimulationResult(aggregate=aggregate, survivors=srv.u3, dropped=srv.dropped)
