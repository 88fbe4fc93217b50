"""Public contexts: what nodes and the coordinator hold, loaded from a peer's bytes and checked before use.

A public context carries the parameters, the public key and, for scoring, the Galois (rotation) keys;
never the secret key. A node checks that the context is for the named parameter set of the job and has no
secret key, and (the caller's part) that its fingerprint is the one pinned in the signed job; it then resets
the flags TenSEAL reads from the bytes (auto rescale, global scale) to ours.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any

import tenseal as ts

from protocols.he import _seal, wire
from protocols.he.exceptions import HEMessageError, SecretKeyInContextError
from protocols.he.params import HEParams

_PRIVATE_PART = 3
_ENCRYPTION_TYPE = 4


@dataclass(frozen=True)
class PublicContext:
    """A TenSEAL context known to hold no secret key, for the named parameter set ``params``."""

    params: HEParams
    tenseal: Any
    fingerprint: str


def fingerprint(data: bytes) -> str:
    """SHA-256 (hex) of a serialised public context: the buyer signs it into the job, nodes compare it."""
    return hashlib.sha256(data).hexdigest()


def load_public_context(
    data: bytes, params: HEParams, *, galois_keys: bool = False, n_threads: int | None = None
) -> PublicContext:
    """Load a public context sent by another party; anything else raises HEMessageError.

    Refuses: more than ``params.max_public_context_bytes``; malformed bytes; a private part (before TenSEAL
    even reads it) or a secret key; symmetric-key contexts; another parameter set; no public key; and, when
    ``galois_keys`` is set (scoring), no Galois keys.
    """
    if not isinstance(data, bytes):
        raise HEMessageError(f"a context must be bytes, got {type(data).__name__}")
    if len(data) > params.max_public_context_bytes:
        raise HEMessageError(f"context of {len(data)} bytes exceeds {params.max_public_context_bytes}")
    fields = wire.context_fields(data)
    if _PRIVATE_PART in fields:
        raise SecretKeyInContextError("the context carries a private part (secret key)")
    if fields.get(_ENCRYPTION_TYPE, 0) != int(ts.ENCRYPTION_TYPE.ASYMMETRIC.value):
        raise HEMessageError("the context is for symmetric (secret-key) encryption")
    try:
        context = ts.context_from(data, n_threads=n_threads)
    except Exception as error:  # TenSEAL raises ValueError, RuntimeError, ... for bad bytes
        raise HEMessageError(f"context does not load: {error}") from error
    if context.has_secret_key() or context.is_private():
        raise SecretKeyInContextError("the context carries a secret key")
    if tuple(int(w) for w in context.seal_context().data.key_parms_id()) != _seal.key_parms_id(params):
        raise HEMessageError(f"the context is not for parameter set {params.name}")
    if not context.has_public_key():
        raise HEMessageError("the context has no public key")
    if galois_keys and not context.has_galois_keys():
        raise HEMessageError("the context has no Galois keys, which scoring needs")
    _seal.normalise(context, params)
    return PublicContext(params, context, fingerprint(data))
