"""Encrypted scoring: per-cell sums of f(w·x + b) over factory rows, the model hidden from the nodes.

The flow, one function per party:
  buyer        ``encrypt_query``: c = expansion.expand(model, f, bounds), padded to every slot, encrypted
               under its own key (one ciphertext, any number of groups);
  node         ``score``: per group g, enc(<c, S_g>) by a ciphertext-plaintext dot product of the query
               with its monomial sums (``monomials.monomial_sums``), plus its DP noise share, plus its
               pairwise mask;
  coordinator  ``aggregate_scores``: per group, the sum of the nodes' ciphertexts (public context only);
  buyer        ``decrypt_scores``: the released sums, with TenSEAL's rescale bias removed.

What each party sees. The node sees c only encrypted. The coordinator sees ciphertexts. The buyer decrypts
only aggregates: a single node's ciphertext decrypts to noise (``masking``). The query fills every slot and
the dot product sums over all of them, so every slot of a result holds the same total — no slot carries a
partial sum of the buyer's choosing — and the DP noise, encoded as a constant, sits in every slot alike.
The released sum also carries CKKS rounding error (about 1e-9 relative, see ``error_bound``) that depends on
the data; it is far below the DP noise, which is what protects the cell.

What the buyer can choose, and the nodes cannot check. c is encrypted, so a node cannot tell which statistic
it computes: the buyer learns one linear functional <c, Σ_i S_i> of the pooled monomial sums per cell, of its
choosing (a single monomial, e.g. Σx₁, included), and a dishonest buyer could scale c to shrink the DP noise
relative to it, or encrypt complex slot values to get a second, noiseless functional from the imaginary part.
The DP guarantee therefore rests on the buyer following the protocol with a declared bound on
``expansion.sensitivity(c)``; against a malicious buyer only aggregation (min cohort) holds.
"""

from __future__ import annotations

import struct
from collections.abc import Sequence

import numpy as np
import numpy.typing as npt

from protocols.he import ciphertexts, masking
from protocols.he._seal import rescale_factor
from protocols.he.ciphertexts import CiphertextSpec
from protocols.he.context import PublicContext
from protocols.he.exceptions import CapacityError, HEMessageError
from protocols.he.keys import KeyOwner
from protocols.he.params import CKKSParams, HEParams
from protocols.secagg.masking import Sign

FloatArray = npt.NDArray[np.float64]


def _ckks(params: HEParams) -> CKKSParams:
    if not isinstance(params, CKKSParams) or not params.can_score:
        raise ValueError(f"scoring runs on a CKKS set with a level to spend, not {params.name}")
    return params


def query_spec(params: HEParams) -> CiphertextSpec:
    return CiphertextSpec.fresh(params, params.slot_count)


def result_spec(params: HEParams) -> CiphertextSpec:
    return CiphertextSpec.scored(_ckks(params))


def max_monomials(params: CKKSParams) -> int:
    """Every slot but the last, which the node sets to 1 in each plaintext (the query holds 0 there).

    A plaintext of zeros — the sums of a group without rows — would make SEAL's product transparent, and
    TenSEAL then substitutes a fresh encryption at the top level, which could not be added to the others.
    """
    return params.slot_count - 1


def _padded(values: FloatArray, params: CKKSParams) -> FloatArray:
    if values.shape[-1] > max_monomials(params):
        raise CapacityError(
            f"{values.shape[-1]} monomials exceed the {max_monomials(params)} usable slots of {params.name}"
        )
    if not np.all(np.isfinite(values)):
        raise ValueError("coefficients and sums must be finite")
    out = np.zeros((*values.shape[:-1], params.slot_count))
    out[..., : values.shape[-1]] = values
    return out


def encrypt_query(public: PublicContext, coefficients: npt.ArrayLike) -> bytes:
    """The buyer's encrypted coefficient vector, zero-padded to all slots."""
    params = _ckks(public.params)
    return ciphertexts.encrypt(public, _padded(np.asarray(coefficients, dtype=np.float64), params))


def _group_label(label: bytes, group: int) -> bytes:
    return label + b"/group/" + struct.pack("<I", group)


def score(
    public: PublicContext,
    query: bytes,
    sums: npt.ArrayLike,
    *,
    masks: Sequence[tuple[bytes, Sign]],
    noise: Sequence[float],
    label: bytes,
) -> list[bytes]:
    """One masked, noised ciphertext enc(<c, S_g> + noise_g) per row S_g of ``sums`` (shape groups × M).

    ``masks`` are the node's signed seeds (``masking.pairwise_masks``); ``label`` must be unique to the job,
    since the same seed and label give the same mask. A group without rows still gets its ciphertext.
    """
    params = _ckks(public.params)
    if not public.tenseal.has_galois_keys():
        raise HEMessageError("scoring needs a public context with Galois keys")
    table = np.asarray(sums, dtype=np.float64)
    if table.ndim != 2 or len(noise) != table.shape[0]:
        raise ValueError(f"expected groups × monomials sums and one noise value per group, got {table.shape}")
    padded = _padded(table, params)
    padded[:, -1] = 1.0
    encrypted = ciphertexts.load(public, query, query_spec(params))
    # The buyer multiplies the decoded total by q/Δ (see rescale_factor); dividing the noise by it here makes
    # the released value the true sum plus exactly the noise the node drew.
    factor = rescale_factor(params)
    results = []
    for group, row in enumerate(padded):
        result = encrypted.dot(row.tolist()) + float(noise[group]) / factor
        result = masking.add_masks(public, result, masks, _group_label(label, group))
        results.append(ciphertexts.dump(result))
    return results


def aggregate_scores(public: PublicContext, per_node: Sequence[Sequence[bytes]]) -> list[bytes]:
    """Per group, the sum of every node's result (the coordinator's step)."""
    spec = result_spec(public.params)
    if not per_node:
        raise ValueError("no node results to aggregate")
    groups = {len(results) for results in per_node}
    if len(groups) != 1:
        raise HEMessageError(f"nodes sent different numbers of groups: {sorted(groups)}")
    return [ciphertexts.aggregate(public, [r[g] for r in per_node], spec) for g in range(groups.pop())]


def dropout_correction(
    public: PublicContext,
    aggregates: Sequence[bytes],
    dropped_masks: Sequence[tuple[bytes, Sign]],
    label: bytes,
) -> list[bytes]:
    """Add the masks a dropped node would have added (from its recovered seeds), so the survivors' cancel."""
    spec = result_spec(public.params)
    corrected = []
    for group, data in enumerate(aggregates):
        total = ciphertexts.load(public, data, spec)
        corrected.append(
            ciphertexts.dump(masking.add_masks(public, total, dropped_masks, _group_label(label, group)))
        )
    return corrected


def decrypt_scores(owner: KeyOwner, aggregates: Sequence[bytes]) -> FloatArray:
    """The released per-group sums Σ f(z) + Σ noise."""
    params = _ckks(owner.params)
    spec = result_spec(params)
    factor = rescale_factor(params)
    return np.array([owner.decrypt(data, spec)[0] * factor for data in aggregates], dtype=np.float64)


def error_bound(params: CKKSParams, coefficients: npt.ArrayLike, sums_l1: Sequence[float]) -> float:
    """Documented CKKS error of a released sum: Σ_i dot_rel_error·(1 + max|c|)·(1 + ||S_i||₁) over nodes i.

    ||S_i||₁ <= M·rows_i, as every scaled monomial is at most 1 in absolute value. The fit error of an
    approximated f (ScorePolynomial.max_error per row) comes on top.
    """
    c_max = float(np.max(np.abs(np.asarray(coefficients, dtype=np.float64)), initial=0.0))
    return sum(params.dot_rel_error * (1 + c_max) * (1 + float(l1)) for l1 in sums_l1)
