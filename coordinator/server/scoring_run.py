"""The coordinator's part in encrypted scoring: add the nodes' masked ciphertexts, release released cells.

It holds only the buyer's public context: the per-node ciphertexts it receives are masked so that none of
them decrypts to anything alone (``protocols.he.masking``), and it stores only the per-group sums of the
cells the count view released. The masks cancel only when the sum holds every node that was asked for a
masked input; a node that dropped at that point fails the run (retried without it), because correcting
for it would need its mask key, which secure aggregation reveals only for nodes whose input is not in the
sum.
"""

from __future__ import annotations

import asyncio
import base64
from typing import Any

from contracts.jobspec import JobSpec, VectorLayout
from contracts.noise import NoisePlan
from contracts.scoring import attach_scores, monomial_noise_std
from coordinator.server.run_channel import RunChannel, RunFailed
from protocols.he import scoring
from protocols.he.context import PublicContext
from protocols.he.exceptions import HEError
from protocols.he.params import CKKSParams


class ScoringRun:
    def __init__(self, spec: JobSpec, data: bytes, public: PublicContext) -> None:
        self.spec, self.data, self.public = spec, data, public

    async def finish(
        self,
        counts: dict[str, Any],
        channel: RunChannel,
        layout: VectorLayout,
        plan: NoisePlan | None,
        contributors: int,
    ) -> dict[str, Any]:
        """The count result, each released group's encrypted sums, and what the buyer needs to read them."""
        survivors = channel.survivors
        missing = sorted(channel.masked_round - set(survivors))
        if missing:
            raise RunFailed(
                "scoring_dropout",
                f"{', '.join(missing)} dropped before sending its masked scores; the masks of the others "
                "would not cancel",
            )
        groups, outputs = len(layout.groups), len(self.spec.outputs)
        per_node = []
        for pid in survivors:
            blobs = channel.scores.get(pid, [])
            if len(blobs) != groups * outputs:
                reason = f"{pid} sent {len(blobs)} encrypted scores, the job needs {groups * outputs}"
                channel.refusals[pid] = f"malformed_scores: {reason}"
                raise RunFailed("malformed_scores", reason)
            per_node.append(blobs)
        try:
            sums = await asyncio.to_thread(self._aggregate, per_node, groups, outputs)
        except HEError as exc:
            raise RunFailed("malformed_scores", f"the encrypted scores do not add up: {exc}") from exc
        released = {
            g: [base64.b64encode(sums[k][g]).decode() for k in range(outputs)]
            for g, group in enumerate(counts["groups"])
            if not group.get("suppressed")
        }
        result = attach_scores(counts, list(self.spec.outputs), released)
        params = self.public.params
        return result | {
            "features": list(self.spec.features),
            "degree": self.spec.degree,
            "he_params": params.name,
            "ckks_dot_rel_error": params.dot_rel_error if isinstance(params, CKKSParams) else None,
            "monomial_noise_std": monomial_noise_std(plan, layout, contributors),
        }

    def _aggregate(self, per_node: list[list[bytes]], groups: int, outputs: int) -> list[list[bytes]]:
        """Per output, per group: the sum of every node's ciphertext."""
        return [
            scoring.aggregate_scores(
                self.public, [blobs[k * groups : (k + 1) * groups] for blobs in per_node]
            )
            for k in range(outputs)
        ]
