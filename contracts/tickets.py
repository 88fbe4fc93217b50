"""Job tickets: what the coordinator asks a node to compute, signed with Ed25519 over RFC 8785 JSON.

A node verifies a ticket before it computes anything: signature, freshness, and a nonce it has not
seen before. Time is always a parameter.
"""

from __future__ import annotations

import base64
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import rfc8785
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from pydantic import BaseModel, ConfigDict, Field

from contracts.canonical import canonical
from contracts.peer_keys import PeerKey

# Nodes and coordinator run on different machines; tolerate this much clock difference.
_CLOCK_SKEW = timedelta(seconds=30)


class TicketError(Exception):
    """A ticket failed verification; ``code`` is machine-readable."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


class JobTicket(BaseModel):
    """Everything a node needs to decide whether and how to take part in one run of a job."""

    model_config = ConfigDict(frozen=True)

    job_id: str
    run_id: str
    buyer: str
    spec: dict[str, Any]
    # The signed usage contract the job runs under; every node checks it itself before computing.
    contract: dict[str, Any] | None = None
    participants: tuple[str, ...]
    # Secure-aggregation parameters; an extract runs no aggregation and leaves them at 0 and empty. A node
    # checks them against the contract and the job before it aggregates anything.
    threshold: int = Field(default=0, ge=0)
    ring_bits: int = 0
    scale_bits: int = 0
    vector_length: int = Field(default=0, ge=0)
    session_id: str = ""  # base64 of the secure-aggregation session id
    # Every participant's signing key, proven by the audit log against the size this node last witnessed:
    # the key each round message of that participant must be signed with.
    peer_keys: dict[str, PeerKey] = Field(default_factory=dict)
    # "malicious" (signed keys, a consistency round, checked shares); "semi_honest" only for diagnostics.
    secagg_mode: str = "malicious"
    # The buyer's signed order (``contracts.orders``), for the kinds nodes run only on one; the buyer's key
    # that signed it comes proven in ``peer_keys`` like the participants' keys.
    order: dict[str, Any] | None = Field(default=None, exclude_if=lambda order: order is None)
    nonce: str
    issued_at: datetime
    expires_at: datetime

    def session_id_bytes(self) -> bytes:
        return base64.b64decode(self.session_id)


def canonical_bytes(ticket: JobTicket) -> bytes:
    """RFC 8785 canonical JSON of the ticket, the exact bytes that are signed."""
    return canonical(ticket.model_dump(mode="json"))


def sign_ticket(ticket: JobTicket, key: Ed25519PrivateKey) -> tuple[bytes, bytes]:
    """Return (payload, signature)."""
    payload = canonical_bytes(ticket)
    return payload, key.sign(payload)


def verify_ticket(
    payload: bytes,
    signature: bytes,
    key: Ed25519PublicKey,
    *,
    now: datetime,
    nonce_unused: Callable[[str], bool],
) -> JobTicket:
    """Verify signature, freshness and nonce; return the ticket or raise TicketError."""
    try:
        key.verify(signature, payload)
    except InvalidSignature as exc:
        raise TicketError("bad_signature", "job ticket signature does not verify") from exc
    try:
        ticket = JobTicket.model_validate_json(payload)
    except ValueError as exc:
        raise TicketError("malformed_ticket", f"job ticket is malformed: {exc}") from exc
    try:
        canonical = canonical_bytes(ticket)
    except rfc8785.CanonicalizationError as exc:
        # A signed payload that does not read back (e.g. a whole number above 2^53) is malformed, not a crash.
        raise TicketError("malformed_ticket", f"job ticket cannot be put in canonical form: {exc}") from exc
    if canonical != payload:
        raise TicketError("malformed_ticket", "job ticket is not in canonical form")
    now = now.astimezone(UTC)
    if now < ticket.issued_at - _CLOCK_SKEW:
        raise TicketError("ticket_not_yet_valid", f"ticket issued in the future ({ticket.issued_at})")
    if now > ticket.expires_at:
        raise TicketError("ticket_expired", f"ticket expired at {ticket.expires_at.isoformat()}")
    if not nonce_unused(ticket.nonce):
        raise TicketError("nonce_reused", "ticket nonce was already used (replay)")
    return ticket
