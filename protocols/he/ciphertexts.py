"""Encrypted vectors as bytes: encrypt, load strictly against what is expected, add up, serialise.

Everything a party receives goes through ``load``: size caps first, then the strict wire parse, then TenSEAL,
then a check of every ciphertext against the expected shape (two polynomials, the expected level, the set's
scale and ring). ``aggregate`` is what the coordinator runs; it needs only the public context.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
import tenseal as ts

from protocols.he import wire
from protocols.he.context import PublicContext
from protocols.he.exceptions import HEMessageError
from protocols.he.params import BFVParams, CKKSParams, HEParams


@dataclass(frozen=True)
class CiphertextSpec:
    """What a received vector must look like: its length and how many primes its ciphertexts still carry."""

    size: int
    level: int

    @classmethod
    def fresh(cls, params: HEParams, size: int) -> CiphertextSpec:
        """A vector as encrypted (and as summed): every data prime."""
        return cls(size, params.data_primes)

    @classmethod
    def scored(cls, params: CKKSParams) -> CiphertextSpec:
        """A scoring result: one value, one prime fewer (the plaintext product was rescaled)."""
        return cls(1, params.data_primes - 1)

    def chunk_sizes(self, params: HEParams) -> tuple[int, ...]:
        """How TenSEAL splits the vector over ciphertexts: full slot loads, then the rest."""
        full, rest = divmod(self.size, params.slot_count)
        return (params.slot_count,) * full + ((rest,) if rest else ())


def encrypt(public: PublicContext, values: npt.ArrayLike) -> bytes:
    """Encrypt a 1-D vector: floats under CKKS; integers under BFV, each within ±params.max_abs_sum."""
    params = public.params
    array = np.asarray(values)
    if array.ndim != 1 or array.size == 0:
        raise ValueError(f"expected a non-empty 1-D vector, got shape {array.shape}")
    if isinstance(params, BFVParams):
        if not np.issubdtype(array.dtype, np.integer):
            raise ValueError(f"BFV encrypts integers, got {array.dtype}")
        if np.any(np.abs(array.astype(object)) > params.max_abs_sum):
            raise ValueError(f"BFV values must stay within ±{params.max_abs_sum}")
        return bytes(ts.bfv_vector(public.tenseal, [int(v) for v in array]).serialize())
    as_float = array.astype(np.float64)
    if not np.all(np.isfinite(as_float)):
        raise ValueError("CKKS values must be finite")
    return bytes(ts.ckks_vector(public.tenseal, as_float.tolist()).serialize())


def load(public: PublicContext, data: bytes, spec: CiphertextSpec) -> Any:
    """A TenSEAL vector from a peer's bytes, or HEMessageError if it is anything but what ``spec`` says."""
    return load_into(public.params, public.tenseal, data, spec)


def load_into(params: HEParams, context: Any, data: bytes, spec: CiphertextSpec) -> Any:
    """``load`` against any context of the set, the key owner's private one included."""
    chunks = spec.chunk_sizes(params)
    if not isinstance(data, bytes):
        raise HEMessageError(f"a ciphertext must be bytes, got {type(data).__name__}")
    if len(data) > params.max_ciphertext_bytes * len(chunks):
        raise HEMessageError(f"ciphertext of {len(data)} bytes exceeds the cap for {len(chunks)} chunk(s)")
    ckks = isinstance(params, CKKSParams)
    message = wire.parse_vector(data, with_scale=ckks)
    if message.sizes != chunks:
        raise HEMessageError(f"chunk sizes {message.sizes}, expected {chunks}")
    if isinstance(params, CKKSParams) and message.scale != params.scale:
        raise HEMessageError(f"scale {message.scale}, expected {params.scale}")
    try:
        vector = ts.ckks_vector_from(context, data) if ckks else ts.bfv_vector_from(context, data)
        _check_ciphertexts(params, vector.ciphertext(), spec)
    except HEMessageError:
        raise
    except Exception as error:  # TenSEAL and SEAL raise ValueError, RuntimeError, ... for bad bytes
        raise HEMessageError(f"ciphertext does not load: {error}") from error
    return vector


def _check_ciphertexts(params: HEParams, ciphertexts: Sequence[Any], spec: CiphertextSpec) -> None:
    ckks = isinstance(params, CKKSParams)
    for ct in ciphertexts:
        if ct.size() != 2:
            raise HEMessageError(f"a ciphertext of {ct.size()} polynomials; expected 2 (relinearised)")
        if ct.coeff_modulus_size() != spec.level:
            raise HEMessageError(f"ciphertext at {ct.coeff_modulus_size()} primes, expected {spec.level}")
        if ct.poly_modulus_degree() != params.poly_modulus_degree:
            raise HEMessageError("ciphertext for another ring degree")
        if ct.is_ntt_form() != ckks:
            raise HEMessageError("ciphertext in the wrong (NTT or coefficient) form for the scheme")
        if isinstance(params, CKKSParams) and ct.scale != params.scale:
            raise HEMessageError(f"ciphertext scale {ct.scale}, expected {params.scale}")


def dump(vector: Any) -> bytes:
    return bytes(vector.serialize())


def aggregate(public: PublicContext, items: Sequence[bytes], spec: CiphertextSpec) -> bytes:
    """The encrypted sum of the parties' vectors, each checked against ``spec`` (the coordinator's step)."""
    if not items:
        raise ValueError("nothing to aggregate")
    total = load(public, items[0], spec)
    for item in items[1:]:
        total += load(public, item, spec)
    return dump(total)
