"""The messages the PSI parties exchange, as frozen dataclasses with one byte encoding each (``wire``).

Nothing but 32-byte group elements and item counts goes on the wire: no keys, no values, no sizes in the
clear other than the counts every party sees anyway. ``from_bytes`` checks the framing and the size limit;
the round functions check every group element before using it. Senders and sessions are the transport's
business (it authenticates the peer and binds the session), as in ``protocols.secagg.messages``.
"""

from __future__ import annotations

from dataclasses import dataclass

from protocols.exceptions import InvalidMessageError
from protocols.psi import wire
from protocols.psi.elgamal import Ciphertext
from protocols.psi.ristretto import POINT_BYTES

_POINT = 1
_CIPHERTEXT = 2
_KEYED_CIPHERTEXT = 3


@dataclass(frozen=True)
class BlindedKeys:
    """First message of every variant: the sender's keys as H(k)^s under its secret s, shuffled."""

    points: tuple[bytes, ...]

    def to_bytes(self) -> bytes:
        return wire.encode([self.points], [_POINT])

    @classmethod
    def from_bytes(cls, data: bytes, max_items: int = wire.DEFAULT_MAX_ITEMS) -> BlindedKeys:
        (points,) = wire.decode(data, [_POINT], max_items)
        return cls(points)


@dataclass(frozen=True)
class CardinalityReply:
    """The second party's answer: the first party's points raised to its secret, and its own blinded keys.

    Both lists are shuffled independently, so neither position tells which key an element came from.
    """

    double_blinded: tuple[bytes, ...]
    own_blinded: tuple[bytes, ...]

    def to_bytes(self) -> bytes:
        return wire.encode([self.double_blinded, self.own_blinded], [_POINT, _POINT])

    @classmethod
    def from_bytes(cls, data: bytes, max_items: int = wire.DEFAULT_MAX_ITEMS) -> CardinalityReply:
        double_blinded, own_blinded = wire.decode(data, [_POINT, _POINT], max_items)
        return cls(double_blinded, own_blinded)


@dataclass(frozen=True)
class KeyedCiphertext:
    """One factory row: H(y)^b and Enc_f(v_y)."""

    key: bytes
    value: Ciphertext


@dataclass(frozen=True)
class SumReply:
    """Factory to buyer in the intersection-sum.

    Its ElGamal public key, the buyer's points raised to b (shuffled), and its own rows as
    (H(y)^b, Enc_f(v_y)) (shuffled separately).
    """

    public_key: bytes
    double_blinded: tuple[bytes, ...]
    rows: tuple[KeyedCiphertext, ...]

    def to_bytes(self) -> bytes:
        rows = [row.key + row.value.to_bytes() for row in self.rows]
        return wire.encode(
            [[self.public_key], self.double_blinded, rows], [_POINT, _POINT, _KEYED_CIPHERTEXT]
        )

    @classmethod
    def from_bytes(cls, data: bytes, max_items: int = wire.DEFAULT_MAX_ITEMS) -> SumReply:
        keys, double_blinded, rows = wire.decode(data, [_POINT, _POINT, _KEYED_CIPHERTEXT], max_items)
        if len(keys) != 1:
            raise InvalidMessageError(f"a sum reply carries exactly one public key, got {len(keys)}")
        parsed = tuple(
            KeyedCiphertext(row[:POINT_BYTES], Ciphertext.from_bytes(row[POINT_BYTES:])) for row in rows
        )
        return cls(keys[0], double_blinded, parsed)


@dataclass(frozen=True)
class SumResponse:
    """Buyer to factory: Enc_f(S + r), the masked sum over the intersection, rerandomised."""

    ciphertext: Ciphertext

    def to_bytes(self) -> bytes:
        return wire.encode([[self.ciphertext.to_bytes()]], [_CIPHERTEXT])

    @classmethod
    def from_bytes(cls, data: bytes) -> SumResponse:
        (items,) = wire.decode(data, [_CIPHERTEXT], max_items=1)
        if len(items) != 1:
            raise InvalidMessageError("a sum response carries exactly one ciphertext")
        return cls(Ciphertext.from_bytes(items[0]))


@dataclass(frozen=True)
class MaskedPoint:
    """One group element on its way to the sum: a factory's masked (S_f + r_f)G, or the total of them."""

    point: bytes

    def to_bytes(self) -> bytes:
        return wire.encode([[self.point]], [_POINT])

    @classmethod
    def from_bytes(cls, data: bytes) -> MaskedPoint:
        (items,) = wire.decode(data, [_POINT], max_items=1)
        if len(items) != 1:
            raise InvalidMessageError("a masked point message carries exactly one point")
        return cls(items[0])
