"""What the gateway, the node service and the orchestrator share inside one coordinator process.

The server owns the live parts (node streams, protocol runs); lower rooms see them only through the small
interfaces declared here, so the gateway and the services never import the server.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Protocol

from contracts.diagnostics import DiagnosticSpec
from coordinator.audit.trail import AuditTrail
from coordinator.identity.keys import CoordinatorKeys
from coordinator.settings import CoordinatorSettings
from coordinator.store.database import Store
from proto.dataspace.v1 import node_service_pb2 as pb
from protocols.dp.samplers import RandomSource, system_random


def utc_now() -> datetime:
    return datetime.now(UTC)


class ConnectedNode(Protocol):
    """One node's open stream, as the gateway and the services see it."""

    @property
    def participant_id(self) -> str: ...
    @property
    def datasets(self) -> dict[str, str]: ...
    @property
    def connected_at(self) -> datetime: ...
    @property
    def last_seen(self) -> datetime: ...
    def close(self) -> None: ...


class NodeDirectory(Protocol):
    """The nodes connected right now, and a way to send one of them a message."""

    def connected(self) -> Sequence[ConnectedNode]: ...
    def get(self, participant_id: str) -> ConnectedNode | None: ...
    def send(self, participant_id: str, message: pb.CoordinatorMessage) -> bool: ...


# Runs an operator diagnostic over the connected nodes; installed by the server, which owns protocol runs.
DiagnosticRunner = Callable[[DiagnosticSpec], Awaitable[dict[str, Any]]]


@dataclass
class CoordinatorContext:
    settings: CoordinatorSettings
    store: Store
    keys: CoordinatorKeys
    audit: AuditTrail
    sessions: NodeDirectory
    clock: Callable[[], datetime] = utc_now
    # Set whenever a job is queued so the orchestrator wakes at once instead of polling.
    jobs_queued: asyncio.Event = field(default_factory=asyncio.Event)
    grpc_target: str = ""
    loop: asyncio.AbstractEventLoop | None = None
    # Called (on the loop) with a contract id when that contract is revoked: in-flight jobs stop.
    on_revoked: list[Callable[[str], None]] = field(default_factory=list)
    run_diagnostic: DiagnosticRunner | None = None
    # Central-mode differential-privacy noise; tests may pass a seeded source.
    rng: RandomSource = field(default_factory=system_random)

    def contract_revoked(self, contract_id: str) -> None:
        for listener in self.on_revoked:
            if self.loop is None:
                listener(contract_id)
            else:
                self.loop.call_soon_threadsafe(listener, contract_id)

    def wake(self, event: asyncio.Event) -> None:
        """Set an event of the coordinator's loop from any thread (sync routes run in a thread pool)."""
        if self.loop is None:
            event.set()
        else:
            self.loop.call_soon_threadsafe(event.set)
