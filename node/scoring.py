"""A node's part in encrypted scoring: receive the buyer's query, evaluate it on its sums under encryption.

The node never sees the buyer's model: it receives the buyer's public context and coefficient vectors
encrypted under the buyer's key, checked against the SHA-256 the job spec names before a byte is parsed,
and loaded so that a context carrying a secret key is refused before TenSEAL reads it. Its monomial sums are
computed, gated and noised like any statistics vector (``job_runner``); it returns, per output and group,
enc(<c, S_g>) plus pairwise masks derived from the secure-aggregation keys of the same run, so that only the
sum over all the run's survivors decrypts to anything (``protocols.he.masking``).
"""

from __future__ import annotations

import hashlib
import struct
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from contracts.jobspec import JobSpec
from node.exceptions import JobRefused
from protocols.he import query, scoring
from protocols.he.context import PublicContext
from protocols.he.exceptions import HEError, SecretKeyInContextError
from protocols.secagg.masking import Sign

# The largest input a node accepts: a ckks-8192 public context with Galois keys (~34 MB) and its queries.
MAX_INPUT_BYTES = 64 * 1024 * 1024


class InputBuffer:
    """The pieces of one run's input, accepted only in order and within the announced total."""

    def __init__(self, total: int) -> None:
        if not 0 < total <= MAX_INPUT_BYTES:
            raise JobRefused("input_too_large", f"a job input of {total} bytes exceeds {MAX_INPUT_BYTES}")
        self.total = total
        self.data = bytearray()

    def add(self, offset: int, total: int, data: bytes) -> None:
        if total != self.total or offset != len(self.data) or len(self.data) + len(data) > total:
            raise JobRefused(
                "malformed_input", f"input piece at {offset} does not continue {len(self.data)}/{self.total}"
            )
        self.data += data

    @property
    def complete(self) -> bool:
        return len(self.data) == self.total


@dataclass
class ScoringWork:
    """What the node keeps between its local statistics and its masked-input round."""

    public: PublicContext
    queries: tuple[bytes, ...]
    sums: npt.NDArray[np.float64]  # groups × monomials, gated and noised


def open_input(data: bytes | None, spec: JobSpec) -> tuple[PublicContext, tuple[bytes, ...]]:
    """The checked public context and query of the run, or a refusal saying what is wrong with them."""
    if data is None:
        raise JobRefused("missing_input", "the job needs the buyer's encrypted query, which did not arrive")
    if hashlib.sha256(data).hexdigest() != spec.input_digest:
        raise JobRefused("input_digest", "the input received is not the one the job spec names")
    try:
        return query.open_query(data, params=spec.he_params or "", outputs=len(spec.outputs))
    except SecretKeyInContextError as exc:
        raise JobRefused("secret_key_in_context", f"the buyer's context must be public: {exc}") from exc
    except HEError as exc:
        raise JobRefused("malformed_input", f"the buyer's encrypted query is malformed: {exc}") from exc


def score_label(session_id: bytes, output: int) -> bytes:
    """Unique per run and output, so no two ciphertexts ever carry the same mask."""
    return b"encrypted_scoring/" + session_id + struct.pack("<I", output)


def encrypted_scores(
    work: ScoringWork, masks: Sequence[tuple[bytes, Sign]], session_id: bytes
) -> list[bytes]:
    """Per output then per group: enc(<c, S_g>) plus this node's pairwise masks."""
    results: list[bytes] = []
    zeros = [0.0] * len(work.sums)  # the noise is already in the sums
    for index, encrypted_query in enumerate(work.queries):
        label = score_label(session_id, index)
        results += scoring.score(
            work.public, encrypted_query, work.sums, masks=masks, noise=zeros, label=label
        )
    return results
