"""The coordinator's part in set intersections: relay protocol messages between factories and the buyer.

The buyer takes part in the run: each factory's blinded keys wait in the database until the buyer's client
fetches them and posts its answer (``GET|POST /api/v1/jobs/{id}/exchange``), which is relayed back to that
factory. The coordinator sees only group elements and their numbers. A factory the buyer does not answer
in time leaves the run. Counts then go through secure aggregation like any count; a sum's masked points
come with the masked inputs, and the coordinator adds them — the total means something only to the buyer,
who removes its masks r_f of exactly the factories listed and takes the discrete logarithm.
"""

from __future__ import annotations

import asyncio
import base64
import time
from typing import Any

from contracts.jobspec import JobKind, JobSpec
from contracts.schema import DatasetSchema
from coordinator.server.run_channel import RunChannel, RunFailed
from coordinator.server.runtime import ServerContext
from coordinator.store.tables import JobExchangeRow
from proto.dataspace.v1 import node_service_pb2 as pb
from protocols.exceptions import InvalidMessageError
from protocols.psi import aggregate as psi_aggregate
from protocols.psi.exceptions import PsiError
from protocols.psi.messages import MaskedPoint

ROUND = "blinded keys"
PSI_ROUNDS = {JobKind.PSI_CARDINALITY: 1, JobKind.PSI_SUM: 2}


async def buyer_round(
    ctx: ServerContext, channel: RunChannel, participants: list[str], minimum: int
) -> set[str]:
    """Relay each factory's blinded keys to the buyer and its answer back; return who got no answer."""
    requests: dict[str, bytes] = {}
    for pid, message in (await channel.first_answers(set(participants), ROUND)).items():
        if message.WhichOneof("body") == "psi":
            requests[pid] = message.psi.data
        else:
            channel.drop_malformed(pid, ROUND, InvalidMessageError("expected blinded keys"))
    now = ctx.clock()
    rows = [JobExchangeRow(job_id=channel.job_id, participant_id=pid, run_id=channel.run_id, request=data,
                           created_at=now) for pid, data in requests.items()]  # fmt: skip
    await asyncio.to_thread(ctx.store.open_exchange, rows)
    try:
        answers = await _answers(ctx, channel.job_id, len(requests))
    finally:
        await asyncio.to_thread(ctx.store.close_exchange, channel.job_id)
    for pid in requests.keys() - answers.keys():
        channel.refusals[pid] = (
            "no_buyer_answer: the buyer did not answer this factory's blinded keys in time"
        )
    if len(answers) < minimum:
        reason = (f"the buyer answered {len(answers)} factories in time; the job needs {minimum} "
                  "(is the buyer's client waiting on the job?)")  # fmt: skip
        raise RunFailed("buyer_did_not_answer", reason)
    for pid, data in answers.items():
        channel.send(pid, pb.ToNode(psi=pb.PsiMessage(data=data)))
    return set(participants) - answers.keys()


async def _answers(ctx: ServerContext, job_id: str, wanted: int) -> dict[str, bytes]:
    deadline = time.monotonic() + ctx.settings.buyer_wait_s
    while True:
        rows = await asyncio.to_thread(ctx.store.exchange, job_id)
        answers = {row.participant_id: row.response for row in rows if row.response is not None}
        if len(answers) >= wanted or time.monotonic() >= deadline:
            return answers
        await asyncio.sleep(0.2)


def intersection_result(spec: JobSpec, counts: dict[str, Any]) -> dict[str, Any]:
    """The count result read as a set intersection: ``n`` is Σ_f |B ∩ F_f| over the cohort."""
    return counts | {
        "kind": spec.kind.value,
        "key_field": spec.key_field,
        "normalization": spec.normalization,
    }


def sum_result(spec: JobSpec, schema: DatasetSchema, channel: RunChannel) -> dict[str, Any]:
    """The masked total of the survivors' points, and who they are (the buyer removes exactly their r_f).

    Every node asked for a masked input must be in the sum: the pairwise masks of a missing one would not
    cancel (and secure aggregation reveals its mask key only if its point is not in the sum).
    """
    survivors = list(channel.survivors)
    missing = sorted(channel.masked_round - set(survivors))
    if missing:
        raise RunFailed("psi_dropout", f"{', '.join(missing)} dropped before sending its masked point")
    if any(pid not in channel.points for pid in survivors):
        raise RunFailed("malformed_points", "not every factory in the sum sent its masked point")
    try:
        total = psi_aggregate.sum_points(MaskedPoint.from_bytes(channel.points[pid]) for pid in survivors)
    except (PsiError, InvalidMessageError) as exc:
        raise RunFailed("malformed_points", f"a masked point is not a group element: {exc}") from exc
    field = schema.field(spec.field or "")
    return {
        "kind": spec.kind.value, "dataset": spec.dataset, "key_field": spec.key_field,
        "normalization": spec.normalization, "field": field.name, "unit": field.unit,
        "contributors": len(survivors), "factories": survivors,
        "masked_total": base64.b64encode(total.to_bytes()).decode(),
    }  # fmt: skip
