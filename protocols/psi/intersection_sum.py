"""Private intersection-sum between the buyer and one factory, after Google's Private Join and Compute.

Ion et al., "On Deploying Secure Computing: Private Intersection-Sum-with-Cardinality" (EuroS&P 2020), with
exponential ElGamal on ristretto255 in place of Paillier, so that the whole transcript is group elements.

The factory holds rows (key, v) with integer v ≥ 0 (quantised by the caller; rows with the same canonical key
are added up first, see ``normalize``); the buyer holds keys. Per factory f:

1. ``buyer_request`` (buyer):    X = shuffle{a·H(x)}                                             B → F
2. ``factory_reply`` (factory):  its ElGamal public key P_f, Z = shuffle{b·X_i},
                                 and shuffle{(b·H(y), Enc_f(v_y))}                                F → B
3. ``buyer_combine`` (buyer):    C = Σ{Enc_f(v_y) : a·b·H(y) ∈ Z} + Enc_f(r_f), r_f a uniform mask
                                 that the buyer keeps; the fresh Enc_f(r_f) rerandomises the sum   B → F
4. ``factory_decrypt`` (factory): M_f = (S_f + r_f)·G, a uniformly random point to the factory.
5. ``aggregate``: each factory adds a pairwise zero-sum mask to M_f; the coordinator adds the masked points;
   the buyer subtracts (Σ r_f)·G and takes the discrete logarithm of (Σ S_f)·G (``dlog``, below ``bound``).

What each party learns (semi-honest, DDH, H a random oracle):
  * buyer: |F_f| for each factory, Σ_f S_f, and — inherent in PJC, where the buyer does the matching — each
    factory's intersection size c_f (``BuyerResult.cardinality``). Not which of its keys matched (Z is
    reshuffled) and not any single S_f (masked before it can be decrypted).
  * factory: |B| and nothing else: the sum it decrypts is masked by r_f, uniform in the whole group.
  * coordinator: set sizes and uniformly random points.

Cardinality decision: because the buyer's node computes c_f itself, this protocol may only run under a
contract that lets the buyer learn per-factory intersection sizes. A contract that releases the count only
as a total must run ``cardinality`` in its FACTORY_LEARNS variant for the count and refuse ``psi_sum``; the
buyer's node should report only Σ c_f even where per-factory counts are allowed. (Hiding c_f from the buyer
needs the factory to do the matching — e.g. values under a joint buyer+factory ElGamal key, shuffled and
rerandomised by the buyer, summed and partly decrypted by the factory, the partial ciphertexts added across
factories — which is a different protocol, not implemented here.)

Bound: every value is a non-negative integer and one factory's rows must total less than ``bound``
(checked by ``factory_reply``); the buyer recovers Σ_f S_f only if it is below ``bound`` too, so an
integration with n factories should give each of them bound // n. ``DEFAULT_BOUND`` = 2^36 (≈ 6.9·10^10,
e.g. 69 billion yuan in units of one yuan): measured on two cores, the discrete logarithm's table of 2^18
points takes 3.5 s and ~55 MB (cached for the process) and a lookup at most 3.5 s more; 2^40 would take
about four times as long and 200 MB, 2^32 under a second each (see ``dlog``).

As in PJC, a buyer that crafts its list (one real key padded with random points) learns that key's value
summed over the factories. That is the function's own leakage, not the protocol's; padding defeats any
minimum list size, so the defences are the minimum cohort and the contract's review of what a buyer may
ask. A dishonest factory can report any sum it likes about its own data; it cannot learn the buyer's keys.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

from protocols.psi import ecdh, elgamal, group
from protocols.psi.dlog import DEFAULT_BOUND
from protocols.psi.ecdh import BlindingState
from protocols.psi.exceptions import ValueBoundError
from protocols.psi.messages import BlindedKeys, KeyedCiphertext, SumReply, SumResponse
from protocols.psi.normalize import KeySet, ValuedKeySet

__all__ = [
    "DEFAULT_BOUND",
    "BlindingState",
    "BuyerResult",
    "FactoryState",
    "buyer_combine",
    "buyer_request",
    "factory_decrypt",
    "factory_reply",
]


@dataclass(frozen=True)
class FactoryState:
    """What the factory keeps between its reply and the buyer's response: its ElGamal key pair."""

    keypair: elgamal.KeyPair


@dataclass(frozen=True)
class BuyerResult:
    """What the buyer keeps per factory: the mask r_f to remove from the total, and c_f (see above)."""

    mask: bytes
    cardinality: int

    def __repr__(self) -> str:
        return f"BuyerResult(cardinality={self.cardinality}, mask=<hidden>)"


def buyer_request(
    keys: KeySet, rng: random.Random, *, pad_to: int | None = None, workers: int | None = None
) -> tuple[BlindingState, BlindedKeys]:
    """Buyer, round 1: the keys blinded under a fresh secret a, shuffled (the same as cardinality's start)."""
    return ecdh.start(keys, rng, pad_to=pad_to, workers=workers)


def factory_reply(
    rows: ValuedKeySet,
    request: BlindedKeys,
    rng: random.Random,
    *,
    bound: int = DEFAULT_BOUND,
    pad_to: int | None = None,
    workers: int | None = None,
) -> tuple[FactoryState, SumReply]:
    """Factory, round 1: re-blind the buyer's points, and send its own rows blinded and encrypted, shuffled.

    ``pad_to`` adds rows of a random point and Enc(0) to hide the number of rows. Raises ValueBoundError if
    the rows total ``bound`` or more, InvalidPointError / InvalidMessageError for a bad request.
    """
    if rows.total >= bound:
        raise ValueBoundError(f"the values total {rows.total}, not below the bound {bound}")
    secret = group.random_scalar(rng)
    keypair = elgamal.generate_keypair(rng)
    double_blinded = ecdh.reblind(secret, request, rng, workers=workers)
    keys = group.hash_and_blind_many(secret, rows.normalization, [key for key, _ in rows.items], workers)
    keys = ecdh.pad(keys, pad_to, rng)
    values = [value for _, value in rows.items] + [0] * (len(keys) - len(rows.items))
    ciphertexts = elgamal.encrypt_many(keypair.public, values, rng, workers)
    own = group.shuffled(
        (KeyedCiphertext(k, ct) for k, ct in zip(keys, ciphertexts, strict=True)),
        rng,
    )
    return FactoryState(keypair), SumReply(keypair.public, tuple(double_blinded), tuple(own))


def buyer_combine(
    state: BlindingState, reply: SumReply, rng: random.Random, *, workers: int | None = None
) -> tuple[BuyerResult, SumResponse]:
    """Buyer, round 2: add up the encrypted values of the common keys, mask and rerandomise the sum.

    Raises InvalidPointError / InvalidMessageError for a malformed reply.
    """
    ecdh.check_double_blinded(state, reply.double_blinded)
    group.validate_point(reply.public_key)
    ecdh.require_distinct([row.key for row in reply.rows], "the factory's blinded keys")
    for row in reply.rows:
        elgamal.validate(row.value)
    theirs = group.blind_many(state.secret, [row.key for row in reply.rows], workers)
    common = set(reply.double_blinded)
    matched = [row.value for row, point in zip(reply.rows, theirs, strict=True) if point in common]
    mask = group.random_scalar(rng)
    # The fresh randomness of Enc(r) rerandomises the sum: without it the factory, knowing every encryption
    # randomness it used, could tell which of its rows were added (a subset sum over its c1 components).
    masked = elgamal.add(
        elgamal.add_many(matched), elgamal.encrypt(reply.public_key, group.scalar_to_int(mask), rng)
    )
    return BuyerResult(mask, len(matched)), SumResponse(masked)


def factory_decrypt(state: FactoryState, response: SumResponse) -> bytes:
    """Factory, round 2: decrypt to the point (S_f + r_f)·G. Never send it unmasked: see ``aggregate``."""
    return elgamal.decrypt_to_point(state.keypair.secret, elgamal.validate(response.ciphertext))
