"""Operator diagnostics: a secure (or plaintext) sum of synthetic vectors across the connected nodes.

No factory data is involved. The result reports round times and the bytes each node uploaded, and is
checked against the sum recomputed from the public seed.
"""

from __future__ import annotations

import time
import uuid
from statistics import median
from typing import Any

import numpy as np

from contracts.diagnostics import DiagnosticSpec, expected_sum
from coordinator.audit.trail import Event
from coordinator.exceptions import ConflictError
from coordinator.server.run_channel import RunChannel
from coordinator.server.runtime import ServerContext
from protocols import fixedpoint
from protocols.secagg.config import SecAggConfig, SecurityMode
from protocols.secagg.messages import MaskedInput

OPERATOR = "operator"


async def run_diagnostic(ctx: ServerContext, spec: DiagnosticSpec) -> dict[str, Any]:
    connected = [s.participant_id for s in ctx.sessions.connected()]
    wanted = spec.participants or len(connected)
    if len(connected) < max(wanted, 2):
        raise ConflictError(f"{len(connected)} node(s) connected, the diagnostic needs {max(wanted, 2)}",
                            code="not_enough_nodes")  # fmt: skip
    participants = connected[:wanted]
    channel = RunChannel(ctx, "diag_" + uuid.uuid4().hex, OPERATOR)
    started = time.perf_counter()
    mode = SecurityMode.SEMI_HONEST if spec.protocol == "secagg_semi_honest" else SecurityMode.MALICIOUS
    try:
        participants = await channel.with_proven_keys(participants)
        config = channel.new_config(participants, 2, spec.ring_bits, spec.dimension, mode)
        channel.send_tickets(config, spec.model_dump(mode="json"), scale_bits=0)
        if spec.protocol == "plaintext":
            total, contributors = await _plaintext_sum(channel, config)
        else:
            total, _count = await channel.secure_aggregation(config)
            contributors = channel.survivors
    finally:
        channel.close()
        channel.notify_finished(participants, "SUCCEEDED")
    seconds = time.perf_counter() - started
    summary = {"protocol": spec.protocol, "dimension": spec.dimension, "participants": participants}
    ctx.audit.record(OPERATOR, Event.DIAGNOSTIC_RUN, {"run": channel.run_id}, summary)
    positions = [config.position(pid) for pid in contributors]
    uploads = [channel.uploaded[pid] for pid in contributors]
    return {
        "protocol": spec.protocol,
        "dimension": spec.dimension,
        "ring_bits": spec.ring_bits,
        "participants": len(participants),
        "contributors": len(contributors),
        "seconds": seconds,
        "round_seconds": channel.round_seconds,
        "upload_bytes_median": median(uploads) if uploads else 0,
        "upload_bytes_max": max(uploads, default=0),
        "correct": bool(np.array_equal(total, expected_sum(spec, positions))),
    }


async def _plaintext_sum(
    channel: RunChannel, config: SecAggConfig
) -> tuple[fixedpoint.RingArray, tuple[str, ...]]:
    """The baseline: every node sends its vector in the clear over the same stream, in one round."""
    started = time.perf_counter()
    replies = await channel.collect(set(config.participants), MaskedInput, "plaintext input")
    total = np.zeros(config.vector_length, dtype=fixedpoint.ring_dtype(config.ring_bits))
    for _pid, message in replies:
        np.add(total, fixedpoint.unpack(message.masked, config.ring_bits, config.vector_length), out=total)
    channel.round_seconds["plaintext input"] = time.perf_counter() - started
    return total, config.ordered(pid for pid, _ in replies)
