"""Messages of the rounds, as plain frozen dataclasses; vectors travel packed as little-endian bytes.

Every ``sender`` field must be filled in (or checked) by the transport from the authenticated peer identity.
"""

from collections.abc import Mapping
from dataclasses import dataclass, field


@dataclass(frozen=True)
class PublicKeys:
    """One client's advertisement; the last two fields are empty in semi-honest mode.

    The signature binds the keys and the seed commitment to the owner and the session, so a server that
    substitutes keys of its own is caught by every honest client.
    """

    cipher_public: bytes  # c_u: agreed with peers to encrypt the shares relayed through the server
    mask_public: bytes  # s_u: agreed with peers to seed the pairwise masks
    seed_commitment: bytes = b""  # SHA-256 commitment to b_u, so a bad share of b_u can be told apart
    signature: bytes = b""  # the owner's Ed25519 signature over the advertisement


@dataclass(frozen=True)
class AdvertiseKeys:
    """Round 0, client to server."""

    sender: str
    keys: PublicKeys


@dataclass(frozen=True)
class KeyTable:
    """Server to every client in U1: the public keys of all clients that advertised."""

    keys: Mapping[str, PublicKeys]


@dataclass(frozen=True)
class ShareKeys:
    """Round 1, client to server: one share envelope per other client in U1, keyed by recipient."""

    sender: str
    envelopes: Mapping[str, bytes]


@dataclass(frozen=True)
class RelayedShares:
    """Server to client ``recipient``: envelopes addressed to it, keyed by sender (all of U2 but itself)."""

    recipient: str
    envelopes: Mapping[str, bytes]


@dataclass(frozen=True)
class MaskedInput:
    """Round 2, client to server: y_u packed as ``vector_length`` little-endian ring elements."""

    sender: str
    masked: bytes


@dataclass(frozen=True)
class ConsistencyRequest:
    """Server to every member of U3 (malicious mode): the survivor set each of them is asked to sign."""

    survivors: tuple[str, ...]


@dataclass(frozen=True)
class ConsistencySignature:
    """Round 3 of malicious mode, client to server: the sender's signature over the session and U3."""

    sender: str
    signature: bytes


@dataclass(frozen=True)
class UnmaskRequest:
    """Server to every survivor: U3 (sent masked input) and dropped = U2 minus U3.

    In malicious mode ``signatures`` carries the consistency signatures of U3 members on this very survivor
    set; a client reveals nothing unless at least t of them verify.
    """

    survivors: tuple[str, ...]
    dropped: tuple[str, ...]
    signatures: Mapping[str, bytes] = field(default_factory=dict)


@dataclass(frozen=True)
class UnmaskResponse:
    """Last round, client to server: shares of b_v for v in U3 and of v's mask secret key for v dropped."""

    sender: str
    self_mask_shares: Mapping[str, bytes]
    mask_key_shares: Mapping[str, bytes]
