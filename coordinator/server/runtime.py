"""The coordinator context as the server holds it: with the concrete registry of node streams and runs."""

from __future__ import annotations

from dataclasses import dataclass, field

from coordinator.context import CoordinatorContext
from coordinator.server.sessions import SessionRegistry


@dataclass
class ServerContext(CoordinatorContext):
    sessions: SessionRegistry = field(default_factory=SessionRegistry)
