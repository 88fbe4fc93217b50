"""Private set intersection on ristretto255: cardinality (ECDH-PSI) and intersection-sum (PJC).

Intersection-sum follows Private Join and Compute with exponential ElGamal; keys are first brought to the
canonical forms that contracts name.

Modules, bottom up: ``ristretto`` (libsodium calls), ``group`` (hashing, blinding, validation), ``normalize``,
``wire`` and ``messages`` (the only byte layout), ``ecdh`` (shared blinding steps), ``cardinality``,
``elgamal``, ``intersection_sum``, ``aggregate`` (masked cross-factory sum) and ``dlog``.
"""

from protocols.psi.cardinality import DEFAULT_VARIANT, Variant
from protocols.psi.exceptions import (
    DiscreteLogError,
    InvalidKeyError,
    InvalidPointError,
    PsiError,
    UnknownNormalizationError,
    ValueBoundError,
)
from protocols.psi.messages import (
    BlindedKeys,
    CardinalityReply,
    KeyedCiphertext,
    MaskedPoint,
    SumReply,
    SumResponse,
)
from protocols.psi.normalize import KeySet, ValuedKeySet, normalize_keys, normalize_rows

__all__ = [
    "DEFAULT_VARIANT",
    "BlindedKeys",
    "CardinalityReply",
    "DiscreteLogError",
    "InvalidKeyError",
    "InvalidPointError",
    "KeySet",
    "KeyedCiphertext",
    "MaskedPoint",
    "PsiError",
    "SumReply",
    "SumResponse",
    "UnknownNormalizationError",
    "ValueBoundError",
    "ValuedKeySet",
    "Variant",
    "normalize_keys",
    "normalize_rows",
]
