"""Diagnostic jobs: a secure sum of synthetic vectors that touches no factory data.

Operators use them to measure the space (round times, bytes per node) and the benchmarks compare the
secure protocol with a plaintext sum over the same transport. Every node derives its vector from the
public seed and its position, so anyone can recompute the expected sum.
"""

from __future__ import annotations

from typing import Any, Final, Literal

import numpy as np
from numpy.typing import NDArray
from pydantic import BaseModel, ConfigDict, Field

DIAGNOSTIC_KIND: Final = "diagnostic_sum"


class DiagnosticSpec(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    kind: Literal["diagnostic_sum"] = DIAGNOSTIC_KIND
    dimension: int = Field(ge=1, le=2_000_000)
    seed: int = Field(default=0, ge=0)
    # "secagg_semi_honest" is the baseline without signatures and consistency round, for measurements only.
    protocol: Literal["secagg", "secagg_semi_honest", "plaintext"] = "secagg"
    ring_bits: Literal[32, 64] = 32
    participants: int | None = Field(
        default=None, ge=2, description="How many connected nodes; all if unset."
    )


RingVector = NDArray[np.unsignedinteger[Any]]


def synthetic_vector(spec: DiagnosticSpec, position: int) -> RingVector:
    """The vector of the participant at ``position`` (uniform ring elements)."""
    dtype = np.uint32 if spec.ring_bits == 32 else np.uint64
    rng = np.random.default_rng([spec.seed, position])
    return rng.integers(0, np.iinfo(dtype).max, size=spec.dimension, dtype=dtype, endpoint=True)


def expected_sum(spec: DiagnosticSpec, positions: list[int]) -> RingVector:
    dtype = np.uint32 if spec.ring_bits == 32 else np.uint64
    total: RingVector = np.zeros(spec.dimension, dtype=dtype)
    for position in positions:
        np.add(total, synthetic_vector(spec, position), out=total)  # wraps mod 2^k, like the protocol
    return total
