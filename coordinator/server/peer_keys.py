"""Peers' signing keys for a run, each with the proof a node asks for: its registration in a witnessed log.

Before the tickets go out, every participant must have cosigned a checkpoint that covers all the
participants' key registrations; the coordinator shows the latest checkpoint to those that have not and
waits a moment for their cosignatures. Each ticket then carries inclusion proofs against the size that
node last cosigned, the only roots it can check them with.
"""

from __future__ import annotations

import asyncio
import base64
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from contracts.canonical import parse_canonical
from contracts.peer_keys import REGISTRATION_KIND, PeerKey
from coordinator.server.runtime import ServerContext
from coordinator.server.witnesses import show_checkpoint
from protocols.tlog.checkpoint import parse_checkpoint
from protocols.tlog.note import split_note

# A registration is rare, so one page of a participant's registrations always reaches the newest.
_REGISTRATIONS_PAGE = 1_000


@dataclass(frozen=True)
class Registration:
    index: int
    entry: bytes  # the canonical leaf bytes
    public_key: bytes


def registrations(ctx: ServerContext, participants: Iterable[str]) -> dict[str, Registration]:
    """The newest key registration of each participant that has one carrying its key."""
    found: dict[str, Registration] = {}
    for pid in participants:
        rows = ctx.audit.log.stored_entries(
            _REGISTRATIONS_PAGE, kind=REGISTRATION_KIND, subject=("participant", pid)
        )
        for row in reversed(rows):
            key = parse_canonical(row.canonical)["payload"].get("public_key")
            if isinstance(key, str):
                found[pid] = Registration(row.idx, row.canonical, base64.b64decode(key))
                break
    return found


async def witnessed_by(
    ctx: ServerContext, participants: Iterable[str], needed_size: int, timeout_s: float
) -> list[str]:
    """The participants that cosigned a checkpoint of at least ``needed_size``, waiting up to a timeout."""
    latest = ctx.audit.log.latest_checkpoint()
    if latest is None or parse_checkpoint(split_note(latest)[0]).size < needed_size:
        ctx.audit.log.checkpoint(ctx.clock())
    pending = [pid for pid in participants if _witnessed(ctx, pid) < needed_size]
    for pid in pending:
        session = ctx.sessions.get(pid)
        if session is not None:
            show_checkpoint(ctx, session)
    deadline = time.monotonic() + timeout_s
    while any(_witnessed(ctx, pid) < needed_size for pid in pending) and time.monotonic() < deadline:
        await asyncio.sleep(0.02)
    return [pid for pid in participants if _witnessed(ctx, pid) >= needed_size]


def peer_keys_for(
    ctx: ServerContext,
    recipient: str,
    found: Mapping[str, Registration],
    made: dict[int, dict[str, PeerKey]] | None = None,
) -> dict[str, PeerKey]:
    """Inclusion proofs of every registration in ``found`` against the size ``recipient`` last cosigned.

    ``made`` keeps the proofs by tree size across the recipients of one run: nodes that cosigned the same
    checkpoint (usually all of them) share one set, so a run reads n proofs from the log, not n².
    """
    size = _witnessed(ctx, recipient)
    if made is not None and size in made:
        return made[size]
    proofs: dict[str, PeerKey] = {}
    for pid, registration in found.items():
        proof = ctx.audit.log.inclusion_proof(registration.index, size)
        proofs[pid] = PeerKey(
            public_key=base64.b64encode(registration.public_key).decode(),
            entry=base64.b64encode(registration.entry).decode(),
            index=registration.index,
            tree_size=size,
            proof=tuple(base64.b64encode(h).decode() for h in proof),
        )
    if made is not None:
        made[size] = proofs
    return proofs


def _witnessed(ctx: ServerContext, pid: str) -> int:
    session = ctx.sessions.get(pid)
    return session.witnessed_size if session is not None else 0
