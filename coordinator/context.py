"""What the gateway, the node service and the orchestrator share inside one coordinator process."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime

from coordinator.bootstrap import CoordinatorKeys
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
    sessions: SessionRegistry = field(default_factory=lambda: SessionRegistry())
    clock: Callable[[], datetime] = utc_now
    # Set whenever a job is queued so the orchestrator wakes at once instead of polling.
    jobs_queued: asyncio.Event = field(default_factory=asyncio.Event)
    grpc_target: str = ""
