"""The buyer's side of a set-intersection count: its key list, answered to each factory during the run.

The key file is read as CSV: the first column of every row is a key (a first row whose key is not valid
under the normalisation, such as a header, is skipped with the other invalid keys). Keys are normalised and
deduplicated exactly as the factories do it, and never leave the buyer's machine: each factory's blinded
keys are answered with them blinded again and the buyer's own keys blinded under a fresh secret
(``protocols.psi.cardinality.respond``), so what the buyer sends are group elements only.
"""

from __future__ import annotations

import csv
import random
from pathlib import Path

from coordinator.client.gateway import GatewayClient
from protocols.psi import cardinality
from protocols.psi.messages import BlindedKeys
from protocols.psi.normalize import KeySet, normalize_keys


def read_keys(path: Path, normalization: str) -> KeySet:
    with path.open(newline="", encoding="utf-8-sig") as handle:
        raw = [row[0] for row in csv.reader(handle) if row and row[0].strip()]
    return normalize_keys(normalization, raw)


class Responder:
    """Answers every factory of a job once; each answer uses a fresh blinding secret."""

    def __init__(self, keys: KeySet) -> None:
        self.keys = keys
        self.answered: set[str] = set()
        self.rng = random.SystemRandom()

    def answer(self, client: GatewayClient, job_id: str) -> int:
        """Answer what waits for us in ``job_id``; return how many factories were answered now."""
        pending = {f: data for f, data in client.pending_exchange(job_id).items() if f not in self.answered}
        if not pending:
            return 0
        answers = {
            factory: cardinality.respond(self.keys, BlindedKeys.from_bytes(data), self.rng).to_bytes()
            for factory, data in pending.items()
        }
        client.answer_exchange(job_id, answers)
        self.answered |= answers.keys()
        return len(answers)
