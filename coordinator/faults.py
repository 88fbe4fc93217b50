"""A deliberately misbehaving coordinator, for tests that prove nodes enforce contracts on their own.

Set ``DATASPACE_COORDINATOR_FAULT`` before starting the coordinator. Never set in production: each fault
removes one of the coordinator's own checks or corrupts what it sends, and the nodes must refuse.
"""

from __future__ import annotations

import os
from enum import StrEnum


class CoordinatorFault(StrEnum):
    NONE = "none"
    SKIP_POLICY = "skip_policy"  # queue jobs the contract does not allow
    IGNORE_REVOCATION = "ignore_revocation"  # keep running jobs under revoked contracts
    FORGE_TICKET = "forge_ticket"  # sign tickets with a key the nodes do not know
    REPLAY_TICKET = "replay_ticket"  # reuse one nonce for every ticket
    EXPIRED_TICKET = "expired_ticket"  # send tickets that expired an hour ago
    STRIP_SIGNATURES = "strip_signatures"  # drop the factories' signatures from the contract in the ticket
    SWAP_BUYER_SIGNATURE = "swap_buyer_signature"  # put some other bytes where the buyer's signature was


def configured_fault() -> CoordinatorFault:
    return CoordinatorFault(os.environ.get("DATASPACE_COORDINATOR_FAULT", CoordinatorFault.NONE))
