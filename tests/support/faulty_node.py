"""A node process that dies or stalls at a chosen protocol step, for resilience tests only.

Run as ``python -m tests.support.faulty_node <arguments of the node CLI>`` with ``DATASPACE_TEST_NODE_FAULT``
naming the fault. Production nodes never import this module: the fault wraps the round function the job
handler calls, installed before the CLI starts.
"""

from __future__ import annotations

import os
import time
from enum import StrEnum

from node import serde
from node.handlers import jobs
from node.job_runner import NodeContext, RunState, advance
from node.serde import ClientMessage, ServerMessage
from proto.dataspace.v1 import secagg_pb2 as spb
from protocols.secagg.messages import (
    ConsistencyRequest,
    MaskedInput,
    RelayedShares,
    UnmaskRequest,
    UnmaskResponse,
)
from protocols.secagg.shamir import PRIME

FAULT_ENV = "DATASPACE_TEST_NODE_FAULT"
EXIT_CODE = 17


class Fault(StrEnum):
    NONE = "none"
    EXIT_BEFORE_MASKED_INPUT = "exit_before_masked_input"
    EXIT_AFTER_MASKED_INPUT = "exit_after_masked_input"
    SLOW_MASKED_INPUT = "slow_masked_input"  # a slow machine: the run stays open for a few seconds
    CORRUPT_SHARE = "corrupt_share"  # every seed share it reveals is off by one: a lying responder
    EMPTY_MASKED_INPUT = "empty_masked_input"  # a masked-input message with nothing in it


FAULT = Fault(os.environ.get(FAULT_ENV, Fault.NONE))


def faulty_advance(ctx: NodeContext, run: RunState, message: ServerMessage) -> ClientMessage:
    if isinstance(message, RelayedShares):
        if FAULT is Fault.EXIT_BEFORE_MASKED_INPUT:
            os._exit(EXIT_CODE)  # abrupt, like a power cut: no goodbye to the coordinator
        if FAULT is Fault.SLOW_MASKED_INPUT:
            time.sleep(4.0)
    if isinstance(message, ConsistencyRequest | UnmaskRequest) and FAULT is Fault.EXIT_AFTER_MASKED_INPUT:
        # The request proves the coordinator holds our masked input: dying now leaves us included.
        os._exit(EXIT_CODE)
    reply = advance(ctx, run, message)
    if isinstance(reply, UnmaskResponse) and FAULT is Fault.CORRUPT_SHARE:
        corrupted = {owner: _off_by_one(share) for owner, share in reply.self_mask_shares.items()}
        reply = UnmaskResponse(reply.sender, corrupted, reply.mask_key_shares)
    return reply


def _off_by_one(share: bytes) -> bytes:
    return ((int.from_bytes(share, "big") + 1) % PRIME).to_bytes(len(share), "big")


_encode_client = serde.encode_client


def faulty_encode_client(message: ClientMessage) -> spb.SecAggClientMessage:
    if isinstance(message, MaskedInput) and FAULT is Fault.EMPTY_MASKED_INPUT:
        return spb.SecAggClientMessage()
    return _encode_client(message)


if __name__ == "__main__":
    jobs.advance = faulty_advance  # type: ignore[assignment]
    serde.encode_client = faulty_encode_client  # type: ignore[assignment]
    from node.cli import main

    main()
