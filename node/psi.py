"""A node's part in a set-intersection count: blind its keys, learn its own count, add it securely.

The factory plays the learner of ``protocols.psi.cardinality`` (FACTORY_LEARNS): it sends its keys blinded
under a fresh secret, the buyer answers through the coordinator with them blinded again and its own keys
blinded, and the node counts the common points. The count c_f never leaves the node in the clear: it goes
through secure aggregation like a count job's row count (gated at the contract's minimum rows per factory
and noised by the node's share), so the buyer and the coordinator see only the total over the cohort.
What the node learns is how many of its keys are on the buyer's list and the list's size, not which keys.
"""

from __future__ import annotations

import asyncio
import random
from dataclasses import dataclass

import numpy as np

from contracts.agreement import Contract
from contracts.jobspec import JobSpec, VectorLayout
from contracts.noise import NoisePlan
from contracts.privacy import gate_cells
from node.exceptions import JobRefused
from protocols.exceptions import InvalidMessageError
from protocols.psi import cardinality
from protocols.psi.ecdh import BlindingState
from protocols.psi.exceptions import PsiError
from protocols.psi.messages import CardinalityReply
from protocols.psi.normalize import KeySet, normalize_keys


@dataclass
class PsiWork:
    """What the node keeps between its blinded keys and the buyer's answer."""

    spec: JobSpec
    contract: Contract
    layout: VectorLayout
    plan: NoisePlan | None
    state: BlindingState
    keys: int


def normalized(spec: JobSpec, raw: list[str]) -> KeySet:
    return normalize_keys(spec.normalization or "", raw)


async def blind(keys: KeySet) -> tuple[BlindingState, bytes]:
    """Round 1 of the learner: the node's distinct keys under a fresh secret, shuffled."""
    state, request = await asyncio.to_thread(cardinality.start, keys, random.SystemRandom())
    return state, request.to_bytes()


def count_common(work: PsiWork, data: bytes) -> np.ndarray:
    """The buyer's answer to the node's keys: the node's gated count vector (count, cohort indicator)."""
    try:
        reply = CardinalityReply.from_bytes(data)
        common = cardinality.finish(work.state, reply)
    except (PsiError, InvalidMessageError) as exc:
        raise JobRefused("malformed_psi_reply", f"the buyer's answer is not a valid reply: {exc}") from exc
    vector = np.array([float(common), 0.0])
    return gate_cells(work.layout, vector, work.contract.terms.privacy.min_rows_per_factory).vector


@dataclass(frozen=True)
class PsiOutgoing:
    """The node's blinded keys, sent in place of a secure-aggregation message."""

    data: bytes
