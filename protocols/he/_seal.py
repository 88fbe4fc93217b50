"""What SEAL, underneath TenSEAL, fixes for a parameter set: its primes, its parameter id, its format version.

TenSEAL hides these; we need them to check a peer's context against the named set, to build mask polynomials
modulo the right primes, and to undo TenSEAL's rounding of the scale after a rescale.
"""

from __future__ import annotations

import functools
from typing import Any

import tenseal as ts
import tenseal.sealapi as sealapi

from protocols.he.params import BFVParams, CKKSParams, HEParams


@functools.cache
def coeff_primes(params: HEParams) -> tuple[int, ...]:
    """The primes of the modulus chain, special prime last; SEAL derives them from the sizes."""
    moduli = sealapi.CoeffModulus.Create(params.poly_modulus_degree, list(params.coeff_mod_bit_sizes))
    return tuple(int(m.value()) for m in moduli)


@functools.cache
def key_parms_id(params: HEParams) -> tuple[int, ...]:
    """SEAL's parameter id (a hash of scheme, N, primes and plain modulus) of the set's key level."""
    if isinstance(params, CKKSParams):
        parms = sealapi.EncryptionParameters(sealapi.SCHEME_TYPE.CKKS)
    else:
        parms = sealapi.EncryptionParameters(sealapi.SCHEME_TYPE.BFV)
        parms.set_plain_modulus(params.plain_modulus)
    parms.set_poly_modulus_degree(params.poly_modulus_degree)
    parms.set_coeff_modulus(
        sealapi.CoeffModulus.Create(params.poly_modulus_degree, list(params.coeff_mod_bit_sizes))
    )
    context = sealapi.SEALContext(parms, True, sealapi.SEC_LEVEL_TYPE.TC128)
    if not context.parameters_set():
        raise ValueError(f"{params.name}: SEAL refuses the parameters: {context.parameters_error_message()}")
    return tuple(int(word) for word in context.key_parms_id())


@functools.cache
def seal_version() -> tuple[int, int]:
    """(major, minor) that SEAL writes into, and expects in, every serialization header."""
    header = sealapi.Serialization.SEALHeader()
    return int(header.version_major), int(header.version_minor)


def rescale_factor(params: CKKSParams) -> float:
    """q/Δ for the prime q a scoring rescale drops: a decoded scored value times this is the true value.

    After multiplying by a plaintext and rescaling, the true scale is Δ²/q, but TenSEAL labels the result with
    Δ again (so that later additions line up); the decoded value is then off by the factor Δ/q, about 1.3e-7
    relative for the 40-bit primes — a bias far larger than the CKKS noise, so it is corrected exactly.
    """
    return coeff_primes(params)[params.data_primes - 1] / params.scale


def new_private_context(params: HEParams, n_threads: int | None) -> Any:
    """A fresh TenSEAL context holding a new secret key (only ever created on the key owner's side)."""
    if isinstance(params, BFVParams):
        context = ts.context(
            ts.SCHEME_TYPE.BFV,
            poly_modulus_degree=params.poly_modulus_degree,
            plain_modulus=params.plain_modulus,
            coeff_mod_bit_sizes=list(params.coeff_mod_bit_sizes),
            n_threads=n_threads,
        )
    else:
        context = ts.context(
            ts.SCHEME_TYPE.CKKS,
            poly_modulus_degree=params.poly_modulus_degree,
            coeff_mod_bit_sizes=list(params.coeff_mod_bit_sizes),
            n_threads=n_threads,
        )
    normalise(context, params)
    return context


def normalise(context: Any, params: HEParams) -> None:
    """Set the flags and scale we rely on; a peer's serialised context may carry others."""
    context.auto_relin = True
    context.auto_rescale = True
    context.auto_mod_switch = True
    if isinstance(params, CKKSParams):
        context.global_scale = params.scale
