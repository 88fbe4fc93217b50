"""Connected nodes: one outbox per node stream, and the inboxes of the job runs in progress.

A node that disconnects is announced to every run in progress so a round does not wait for its
deadline to notice the dropout.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from datetime import datetime

from proto.dataspace.v1 import node_service_pb2 as pb


@dataclass(frozen=True)
class Disconnected:
    """Put into run inboxes when a node's stream ends."""

    participant_id: str


@dataclass
class NodeSession:
    participant_id: str
    datasets: dict[str, str]
    connected_at: datetime
    last_seen: datetime
    witnessed_size: int = 0
    outbox: asyncio.Queue[pb.CoordinatorMessage | None] = field(default_factory=asyncio.Queue)

    def send(self, message: pb.CoordinatorMessage) -> None:
        self.outbox.put_nowait(message)

    def close(self) -> None:
        self.outbox.put_nowait(None)


InboxItem = tuple[str, pb.FromNode] | Disconnected


class SessionRegistry:
    def __init__(self) -> None:
        self._sessions: dict[str, NodeSession] = {}
        self._runs: dict[str, asyncio.Queue[InboxItem]] = {}

    # -- node streams -------------------------------------------------------------------------
    def register(self, session: NodeSession) -> None:
        """A reconnecting node replaces its previous stream, which is closed."""
        previous = self._sessions.get(session.participant_id)
        self._sessions[session.participant_id] = session
        if previous is not None:
            previous.close()
            self._announce_disconnect(session.participant_id)

    def unregister(self, session: NodeSession) -> None:
        if self._sessions.get(session.participant_id) is session:
            del self._sessions[session.participant_id]
            self._announce_disconnect(session.participant_id)

    def get(self, participant_id: str) -> NodeSession | None:
        return self._sessions.get(participant_id)

    def connected(self) -> list[NodeSession]:
        return sorted(self._sessions.values(), key=lambda s: s.participant_id)

    def send(self, participant_id: str, message: pb.CoordinatorMessage) -> bool:
        session = self._sessions.get(participant_id)
        if session is None:
            return False
        session.send(message)
        return True

    # -- job runs -----------------------------------------------------------------------------
    def open_run(self, run_id: str) -> asyncio.Queue[InboxItem]:
        inbox: asyncio.Queue[InboxItem] = asyncio.Queue()
        self._runs[run_id] = inbox
        return inbox

    def close_run(self, run_id: str) -> None:
        self._runs.pop(run_id, None)

    def deliver(self, participant_id: str, message: pb.FromNode) -> bool:
        inbox = self._runs.get(message.run_id)
        if inbox is None:
            return False
        inbox.put_nowait((participant_id, message))
        return True

    def _announce_disconnect(self, participant_id: str) -> None:
        for inbox in self._runs.values():
            inbox.put_nowait(Disconnected(participant_id))
