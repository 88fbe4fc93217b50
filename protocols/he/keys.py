"""The key owner (the buyer): creates the secret key, releases only public contexts, decrypts aggregates.

The secret key never leaves this object: ``public_context`` serialises without it (and without relinearisation
keys, which nothing here needs), and nothing returns the private TenSEAL context.
"""

from __future__ import annotations

import functools
from typing import Any

import numpy as np
import numpy.typing as npt
import tenseal as ts

from protocols.he import _seal
from protocols.he.ciphertexts import CiphertextSpec, load_into
from protocols.he.context import PublicContext, load_public_context
from protocols.he.params import BFVParams, CKKSParams, HEParams


class KeyOwner:
    """Holds a secret key for ``params``; ``galois_keys`` adds the rotation keys that scoring needs."""

    def __init__(
        self,
        params: HEParams,
        *,
        galois_keys: bool = False,
        n_threads: int | None = None,
        _context: Any = None,
    ) -> None:
        self._params = params
        self._galois_keys = galois_keys
        self._context = _context if _context is not None else _seal.new_private_context(params, n_threads)
        if galois_keys:
            self._context.generate_galois_keys()

    def secret_bytes(self) -> bytes:
        """The secret context (parameters, secret and public key; Galois keys are made again on load).

        For the owner's own key file only: nothing else may ever receive these bytes.
        """
        return bytes(
            self._context.serialize(
                save_public_key=True, save_secret_key=True, save_galois_keys=False, save_relin_keys=False
            )
        )

    @classmethod
    def from_secret_bytes(
        cls, data: bytes, params: HEParams, *, galois_keys: bool = False, n_threads: int | None = None
    ) -> KeyOwner:
        """The key owner saved by ``secret_bytes``, checked to be for ``params``."""
        context = ts.context_from(data, n_threads=n_threads)
        if not context.has_secret_key():
            raise ValueError("the key file holds no secret key")
        if tuple(int(w) for w in context.seal_context().data.key_parms_id()) != _seal.key_parms_id(params):
            raise ValueError(f"the key file is not for parameter set {params.name}")
        _seal.normalise(context, params)
        return cls(params, galois_keys=galois_keys, _context=context)

    @property
    def params(self) -> HEParams:
        return self._params

    @functools.cached_property
    def _public_bytes(self) -> bytes:
        return bytes(
            self._context.serialize(
                save_public_key=True,
                save_secret_key=False,
                save_galois_keys=self._galois_keys,
                save_relin_keys=False,
            )
        )

    def public_context(self) -> bytes:
        """The context to hand to nodes and the coordinator: parameters, public key, Galois keys if any."""
        return self._public_bytes

    @functools.cached_property
    def public(self) -> PublicContext:
        """Our own public context, loaded through the same checks a node applies (to encrypt the query)."""
        return load_public_context(self._public_bytes, self._params, galois_keys=self._galois_keys)

    def decrypt(self, data: bytes, spec: CiphertextSpec) -> npt.NDArray[np.float64]:
        """Decrypt a CKKS vector (an aggregate) after checking it against ``spec``."""
        if not isinstance(self._params, CKKSParams):
            raise ValueError("decrypt is for CKKS; use decrypt_integers for BFV")
        vector = load_into(self._params, self._context, data, spec)
        return np.asarray(vector.decrypt(), dtype=np.float64)

    def decrypt_integers(self, data: bytes, spec: CiphertextSpec) -> npt.NDArray[np.int64]:
        """Decrypt a BFV vector exactly (balanced residues mod t) after checking it against ``spec``."""
        if not isinstance(self._params, BFVParams):
            raise ValueError("decrypt_integers is for BFV; use decrypt for CKKS")
        vector = load_into(self._params, self._context, data, spec)
        return np.asarray(vector.decrypt(), dtype=np.int64)
