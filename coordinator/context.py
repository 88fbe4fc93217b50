"""What the gateway, the node service and the orchestrator share inside one coordinator process."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime

from coordinator.audit.trail import AuditTrail
from coordinator.bootstrap import CoordinatorKeys
from coordinator.faults import CoordinatorFault, configured_fault
from coordinator.sessions import SessionRegistry
from coordinator.settings import CoordinatorSettings
from coordinator.store import Store


def utc_now() -> datetime:
    return datetime.now(UTC)


@dataclass
class CoordinatorContext:
    settings: CoordinatorSettings
    store: Store
    keys: CoordinatorKeys
    audit: AuditTrail
    sessions: SessionRegistry = field(default_factory=lambda: SessionRegistry())
    clock: Callable[[], datetime] = utc_now
    # Set whenever a job is queued so the orchestrator wakes at once instead of polling.
    jobs_queued: asyncio.Event = field(default_factory=asyncio.Event)
    grpc_target: str = ""
    loop: asyncio.AbstractEventLoop | None = None
    fault: CoordinatorFault = field(default_factory=configured_fault)
    # Called (on the loop) with a contract id when that contract is revoked: in-flight jobs stop.
    on_revoked: list[Callable[[str], None]] = field(default_factory=list)

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
