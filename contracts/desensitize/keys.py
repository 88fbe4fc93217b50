"""Per-contract desensitization keys: HKDF from a node's secret and the contract id, then one key per use.

Pseudonyms, surrogates and date shifts are stable inside one contract, so a buyer can join a contract's
extracts on them, and unrelated across contracts (and across nodes, whose secrets differ), so extracts of
two contracts cannot be joined.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Final

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF, HKDFExpand

MIN_NODE_SECRET_BYTES: Final = 32
_SALT: Final = b"industrial-dataspace/desensitize/v1"


@dataclass(frozen=True)
class ContractKey:
    """The 32-byte key of one contract at one node; its repr never shows the key."""

    contract_id: str
    secret: bytes = field(repr=False)

    def __post_init__(self) -> None:
        if len(self.secret) != 32:
            raise ValueError("a contract key has 32 bytes")

    def derive(self, purpose: str, length: int = 32) -> bytes:
        """An independent key for one purpose (``"pseudonym/<domain>"``, ``"ff1/<domain>"``, ...)."""
        return HKDFExpand(hashes.SHA256(), length, purpose.encode("utf-8")).derive(self.secret)


def derive_contract_key(node_secret: bytes, contract_id: str) -> ContractKey:
    """HKDF-SHA-256 of the node's secret with the contract id as context."""
    if len(node_secret) < MIN_NODE_SECRET_BYTES:
        raise ValueError(f"a node secret has at least {MIN_NODE_SECRET_BYTES} bytes")
    if not contract_id:
        raise ValueError("the contract id is empty")
    hkdf = HKDF(hashes.SHA256(), 32, _SALT, b"contract:" + contract_id.encode("utf-8"))
    return ContractKey(contract_id, hkdf.derive(node_secret))
