"""CKKS (and BFV) through TenSEAL behind a small typed facade; the buyer alone holds the secret key.

Uses: encrypted scoring of a buyer's private model on factory rows with only per-cell sums released
(``scoring``), and encrypted aggregation that only the buyer can read (``ciphertexts.aggregate``). Only public
contexts leave the key owner; every byte string from a peer is loaded through strict, capped checks.
"""

from protocols.he.ciphertexts import CiphertextSpec, aggregate, encrypt, load
from protocols.he.context import PublicContext, fingerprint, load_public_context
from protocols.he.exceptions import CapacityError, HEError, HEMessageError, SecretKeyInContextError
from protocols.he.expansion import LinearModel, expand, score_range, sensitivity
from protocols.he.keys import KeyOwner
from protocols.he.masking import add_masks, mask_vector, pairwise_masks
from protocols.he.monomials import FeatureBounds, exponents, monomial_count, monomial_sums
from protocols.he.params import (
    BFV_8192,
    CKKS_4096_SUM,
    CKKS_8192,
    CKKS_16384,
    BFVParams,
    CKKSParams,
    HEParams,
    by_name,
)
from protocols.he.polynomials import ScorePolynomial, identity, logistic, smooth_step, square
from protocols.he.scoring import (
    aggregate_scores,
    decrypt_scores,
    dropout_correction,
    encrypt_query,
    error_bound,
    max_monomials,
    score,
)

__all__ = [
    "BFV_8192",
    "CKKS_4096_SUM",
    "CKKS_8192",
    "CKKS_16384",
    "BFVParams",
    "CKKSParams",
    "CapacityError",
    "CiphertextSpec",
    "FeatureBounds",
    "HEError",
    "HEMessageError",
    "HEParams",
    "KeyOwner",
    "LinearModel",
    "PublicContext",
    "ScorePolynomial",
    "SecretKeyInContextError",
    "add_masks",
    "aggregate",
    "aggregate_scores",
    "by_name",
    "decrypt_scores",
    "dropout_correction",
    "encrypt",
    "encrypt_query",
    "error_bound",
    "expand",
    "exponents",
    "fingerprint",
    "identity",
    "load",
    "load_public_context",
    "logistic",
    "mask_vector",
    "max_monomials",
    "monomial_count",
    "monomial_sums",
    "pairwise_masks",
    "score",
    "score_range",
    "sensitivity",
    "smooth_step",
    "square",
]
