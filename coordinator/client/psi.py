"""The buyer's side of set intersections: its key list, answered to each factory during the run.

The key file is read as CSV: the first column of every row is a key (a first row whose key is not valid
under the normalisation, such as a header, is skipped with the other invalid keys). Keys are normalised and
deduplicated exactly as the factories do it, and never leave the buyer's machine: each factory's blinded
keys are answered with them blinded again and the buyer's own keys blinded under a fresh secret
(``protocols.psi.cardinality.respond``), so what the buyer sends are group elements only.
"""

from __future__ import annotations

import base64
import csv
import hashlib
import random
from pathlib import Path
from typing import Any

from coordinator.client.gateway import GatewayClient
from protocols.psi import aggregate, cardinality, intersection_sum
from protocols.psi.ecdh import BlindingState
from protocols.psi.intersection_sum import BuyerResult
from protocols.psi.messages import BlindedKeys, MaskedPoint, SumReply
from protocols.psi.normalize import KeySet, normalize_keys


def read_keys(path: Path, normalization: str) -> KeySet:
    with path.open(newline="", encoding="utf-8-sig") as handle:
        raw = [row[0] for row in csv.reader(handle) if row and row[0].strip()]
    return normalize_keys(normalization, raw)


class Responder:
    """Answers the factories of one job, each message once; each answer uses a fresh blinding secret.

    ``psi_cardinality``: one answer per factory (``cardinality.respond``). ``psi_sum``: the factory first
    asks (an empty message) and gets our keys blinded (``buyer_request``); then its encrypted rows are
    matched and their masked sum returned (``buyer_combine``), and the mask r_f kept to read the total.
    """

    def __init__(self, keys: KeySet, kind: str = "psi_cardinality") -> None:
        self.keys, self.kind = keys, kind
        self.answered: set[tuple[str, str]] = set()  # (factory, SHA-256 of its message)
        self.rng = random.SystemRandom()
        self._blinding: dict[str, BlindingState] = {}
        self._sums: dict[str, BuyerResult] = {}

    @property
    def factories(self) -> set[str]:
        return {factory for factory, _ in self.answered}

    def answer(self, client: GatewayClient, job_id: str) -> int:
        """Answer what waits for us in ``job_id``; return how many messages were answered now."""
        pending = {
            factory: data
            for factory, data in client.pending_exchange(job_id).items()
            if (factory, hashlib.sha256(data).hexdigest()) not in self.answered
        }
        if not pending:
            return 0
        answers = {factory: self._reply(factory, data) for factory, data in pending.items()}
        client.answer_exchange(job_id, answers)
        self.answered |= {(f, hashlib.sha256(data).hexdigest()) for f, data in pending.items()}
        return len(answers)

    def _reply(self, factory: str, data: bytes) -> bytes:
        if self.kind != "psi_sum":
            return cardinality.respond(self.keys, BlindedKeys.from_bytes(data), self.rng).to_bytes()
        if factory not in self._blinding:
            self._blinding[factory], request = intersection_sum.buyer_request(self.keys, self.rng)
            return request.to_bytes()
        reply = SumReply.from_bytes(data)
        self._sums[factory], response = intersection_sum.buyer_combine(
            self._blinding[factory], reply, self.rng
        )
        return response.to_bytes()

    def total(self, result: dict[str, Any]) -> int:
        """Σ_f S_f from a psi_sum result: our masks of exactly the factories summed removed, then the dlog."""
        masked = MaskedPoint.from_bytes(base64.b64decode(result["masked_total"]))
        return aggregate.recover_total(masked, [self._sums[f].mask for f in result["factories"]])

    def intersections(self) -> dict[str, int]:
        """What a psi_sum tells the buyer by its nature (it matches): each factory's intersection size."""
        return {factory: found.cardinality for factory, found in self._sums.items()}
