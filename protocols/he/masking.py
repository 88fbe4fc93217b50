"""Pairwise masks on CKKS ciphertexts, so that no single node's ciphertext can be decrypted to its value.

Construction. Node i's result is a ciphertext ct_i = (c0, c1) at level l: modulus q_l = p_0 ⋯ p_{l-1}, stored
by SEAL in NTT form, decrypting to μ_i = c0 + c1·s = Δ·v_i + e_i in R_l = Z_{q_l}[X]/(X^N + 1). With the
32-byte seeds s_ij it shares with each peer j (from secure aggregation), node i forms

    m_i = Σ_{j>i} G(s_ij) − Σ_{j<i} G(s_ij)  ∈ R_l,

where G(s) is a uniform element of R_l: for each prime p_k, N residues uniform in [0, p_k) by rejection
sampling from the AES-256-CTR stream (``protocols.secagg.masking.prg``) of HMAC-SHA256(s, domain ‖ label ‖
chunk ‖ k). By the CRT, uniform residues mod every p_k are a uniform element of Z_{q_l}; and since the NTT is
a bijection of Z_{p_k}^N, drawing the NTT-form values uniformly draws a uniform polynomial. Node i then adds
the ciphertext (m_i, 0) — we write it as a SEAL object ourselves (``wire.transparent_ciphertext``) because
TenSEAL cannot build a plaintext from raw residues — which is exactly SEAL's add_plain of m_i:
ct'_i = (c0 + m_i, c1) decrypts to μ_i + m_i.

Why one ciphertext reveals nothing. Whoever holds the secret key (the buyer) and obtains ct'_i alone — say a
coordinator hands it over instead of the sum — decrypts μ_i + m_i. As long as one seed s_ij of node i is
unknown to them, m_i contains ±G(s_ij), uniform in the group R_l and independent of everything else they see
(c1 does not depend on it), so μ_i + m_i is uniform whatever v_i is: a one-time pad in R_l. The hiding is
perfect for truly random G and computational (AES-CTR against a distinguisher) as implemented. Decoded, such a
ciphertext gives values of order √N·q_l/Δ (~10^19 for CKKS_8192) in every slot. For a set H of honest nodes
whose pairwise seeds the adversary lacks (the pair graph on H being connected, as it is with all pairs), the
vector (μ_i + m_i)_{i∈H} is uniform subject to its sum, so it reveals only Σ_{i∈H} μ_i — the masking argument
of Bonawitz et al. (CCS 2017) over Z_R, here over the group R_l.

Why the sum is exact. Each G(s_ij) enters once with + (node min(i, j)) and once with − (node max(i, j)), so
Σ_i m_i = 0 in R_l exactly: SEAL adds residues mod each p_k without rounding, all results sit at the same
level and carry the same scale label (``ciphertexts.load`` checks both). The aggregate decrypts to Σ_i μ_i:
masking costs no precision at all; the error is that of the unmasked CKKS sum.

What the caller must provide. A label unique to the job and purpose (the same seed and label give the same
mask; the chunk and prime indices are appended here). If a node drops after the others masked, the
coordinator adds that node's own masks, computed from its seeds recovered by secure aggregation, with
``mask_vector``; as in Bonawitz et al., recovering the seeds of a node that did send would unmask it, so the
recovery round must reveal them only for nodes that really dropped (a self mask passed among ``masks`` and
removed the same way gives that round something to refuse).
"""

from __future__ import annotations

import hmac
import struct
from collections.abc import Mapping, Sequence
from typing import Any, Final

import numpy as np
import numpy.typing as npt
import tenseal as ts

from protocols.he import wire
from protocols.he._seal import coeff_primes
from protocols.he.context import PublicContext
from protocols.he.params import CKKSParams
from protocols.secagg.masking import SEED_BYTES, Sign, prg

MASK_DOMAIN: Final = b"industrial-dataspace/he/mask-polynomial/v1"


def pairwise_masks(own_index: int, peer_seeds: Mapping[int, bytes]) -> list[tuple[bytes, Sign]]:
    """The masks node ``own_index`` adds: +G(s_ij) for each peer j after it, −G(s_ij) for each before it."""
    masks: list[tuple[bytes, Sign]] = []
    for peer, seed in sorted(peer_seeds.items()):
        if peer == own_index:
            raise ValueError("a node shares no pairwise seed with itself")
        masks.append((seed, 1 if peer > own_index else -1))
    return masks


def _stream_key(seed: bytes, label: bytes, chunk: int, prime_index: int) -> bytes:
    if len(seed) != SEED_BYTES:
        raise ValueError(f"mask seeds are {SEED_BYTES} bytes, got {len(seed)}")
    message = MASK_DOMAIN + struct.pack("<I", len(label)) + label + struct.pack("<II", chunk, prime_index)
    return hmac.digest(seed, message, "sha256")


def uniform_residues(key: bytes, prime: int, count: int) -> npt.NDArray[np.uint64]:
    """``count`` values uniform in [0, prime): the top bits of 64-bit stream words, words >= prime rejected.

    The stream is prefix-stable, so when too many words are rejected we redraw a longer stream and both ends
    of a pair still take the same values.
    """
    shift = np.uint64(64 - prime.bit_length())
    length = count + count // 8 + 64
    while True:
        words = prg(key, length, 64) >> shift
        accepted = words[words < np.uint64(prime)]
        if accepted.size >= count:
            return accepted[:count]
        length *= 2


def mask_polynomial(
    masks: Sequence[tuple[bytes, Sign]], primes: Sequence[int], degree: int, label: bytes, chunk: int = 0
) -> npt.NDArray[np.uint64]:
    """Σ sign·G(seed) in RNS form: one row of ``degree`` residues per prime."""
    total = np.zeros((len(primes), degree), dtype=np.uint64)
    for k, prime in enumerate(primes):
        p = np.uint64(prime)
        for seed, sign in masks:
            draw = uniform_residues(_stream_key(seed, label, chunk, k), prime, degree)
            # Residues are below 2^60, so a sum of two never wraps 64 bits before the reduction.
            total[k] = (total[k] + (draw if sign == 1 else (p - draw) % p)) % p
    return total


def mask_vector(public: PublicContext, like: Any, masks: Sequence[tuple[bytes, Sign]], label: bytes) -> Any:
    """The transparent ciphertexts (m, 0), one per chunk of ``like``, at its level and scale."""
    params = public.params
    if not isinstance(params, CKKSParams):
        raise ValueError("polynomial masks are implemented for CKKS ciphertexts only")
    ciphertexts = like.ciphertext()
    blobs = []
    for chunk, ct in enumerate(ciphertexts):
        primes = coeff_primes(params)[: ct.coeff_modulus_size()]
        polynomial = mask_polynomial(masks, primes, params.poly_modulus_degree, label, chunk)
        parms_id = tuple(int(w) for w in ct.parms_id())
        blobs.append(wire.transparent_ciphertext(parms_id, params.poly_modulus_degree, ct.scale, polynomial))
    full, rest = divmod(like.size(), params.slot_count)
    sizes = (params.slot_count,) * full + ((rest,) if rest else ())
    message = wire.VectorMessage(sizes, tuple(blobs), params.scale)
    return ts.ckks_vector_from(public.tenseal, wire.encode_vector(message))


def add_masks(public: PublicContext, vector: Any, masks: Sequence[tuple[bytes, Sign]], label: bytes) -> Any:
    """``vector`` + (m, 0): what a node sends instead of its bare result."""
    return vector + mask_vector(public, vector, masks, label)
