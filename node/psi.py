"""A node's part in set intersections: a count (the node learns its own) or a sum (the buyer matches).

Count (``psi_cardinality``).
The factory plays the learner of ``protocols.psi.cardinality`` (FACTORY_LEARNS): it sends its keys blinded
under a fresh secret, the buyer answers through the coordinator with them blinded again and its own keys
blinded, and the node counts the common points. The count c_f never leaves the node in the clear: it goes
through secure aggregation like a count job's row count (gated at the contract's minimum rows per factory
and noised by the node's share), so the buyer and the coordinator see only the total over the cohort.
What the node learns is how many of its keys are on the buyer's list and the list's size, not which keys.

Sum (``psi_sum``, ``protocols.psi.intersection_sum``). The buyer sends its keys blinded; the node answers
with them blinded again and its own rows, blinded keys with values encrypted under a fresh ElGamal key;
the buyer adds the values of the common keys under encryption, masks the sum with r_f and sends it back;
the node decrypts the point (S_f + r_f)·G and sends it with its masked input, masked pairwise with the
run's secure-aggregation seeds, so the coordinator can add the points and the buyer read only Σ_f S_f.
Values are summed in whole units of the field (rounded), and a factory's rows must total below its share
of the discrete logarithm's bound.
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
from protocols.psi import aggregate, cardinality, intersection_sum
from protocols.psi.dlog import DEFAULT_BOUND
from protocols.psi.ecdh import BlindingState
from protocols.psi.exceptions import PsiError, ValueBoundError
from protocols.psi.messages import BlindedKeys, CardinalityReply, SumResponse
from protocols.psi.normalize import KeySet, ValuedKeySet, normalize_keys, normalize_rows


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


@dataclass
class PsiSumWork:
    """A sum's rows, and what the node keeps between the protocol's rounds."""

    spec: JobSpec
    rows: ValuedKeySet
    bound: int
    state: intersection_sum.FactoryState | None = None

    @classmethod
    def of(cls, spec: JobSpec, raw: list[tuple[str, float]], participants: int) -> PsiSumWork:
        values = [(key, round(value)) for key, value in raw]
        # Each factory's share of the bound, so the buyer's discrete logarithm of the total stays in range.
        return cls(spec, normalize_rows(spec.normalization or "", values), DEFAULT_BOUND // participants)

    def reply(self, data: bytes) -> bytes:
        """The buyer's blinded keys, answered: them blinded again, and our rows blinded and encrypted."""
        try:
            request = BlindedKeys.from_bytes(data)
            self.state, reply = intersection_sum.factory_reply(
                self.rows, request, random.SystemRandom(), bound=self.bound
            )
        except (PsiError, InvalidMessageError) as exc:
            code = "psi_value_bound" if isinstance(exc, ValueBoundError) else "malformed_psi_reply"
            raise JobRefused(code, f"the buyer's keys cannot be answered: {exc}") from exc
        return reply.to_bytes()

    def decrypt(self, data: bytes) -> bytes:
        """The buyer's masked sum of our matched values, decrypted to the point (S_f + r_f)·G."""
        if self.state is None:
            raise JobRefused("unexpected_message", "a masked sum before the buyer's keys")
        try:
            return intersection_sum.factory_decrypt(self.state, SumResponse.from_bytes(data))
        except (PsiError, InvalidMessageError) as exc:
            raise JobRefused("malformed_psi_reply", f"the buyer's masked sum is malformed: {exc}") from exc


def masked_point(
    point: bytes, me: str, survivors: list[str], seeds: dict[str, bytes], session_id: bytes
) -> bytes:
    """Our point plus the pairwise mask with every other survivor: the masks cancel in the sum."""
    return aggregate.mask_point(point, me, survivors, seeds, session_id).to_bytes()
