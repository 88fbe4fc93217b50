"""ECDH-PSI cardinality between the buyer and one factory: the size of the intersection of their key sets.

The protocol has a *learner* L, the one party that ends up knowing the count, and a *responder* R:

1. ``start`` (L):    X = shuffle{a·H(x) : x ∈ L's keys}                               L → R
2. ``respond`` (R):  Z = shuffle{b·X_i},  Y = shuffle{b·H(y) : y ∈ R's keys}           R → L
3. ``finish`` (L):   |{a·Y_j} ∩ Z|  =  |L's keys ∩ R's keys|

Keys are distinct canonical keys (``normalize``): duplicates are merged before blinding on both sides, so the
count is that of distinct common keys. Messages carry only points; security is against semi-honest parties
under DDH in ristretto255 with H a random oracle.

Variants, by who plays the learner (``Variant``):

``BUYER_LEARNS`` — the standard protocol (Huberman-Franklin-Hogg 1999; De Cristofaro et al.'s PSI-CA).
    The buyer learns c_f = |B ∩ F_f| for each factory f, and |F_f|; the factory learns |B|. Use only where
    the contract releases per-factory counts to the buyer.
``FACTORY_LEARNS`` — the same protocol with the roles swapped, for contracts that release only a total.
    The factory learns its own c_f and |B|; the buyer learns |F_f| and nothing about the intersection. Each
    factory then feeds c_f into secure aggregation (``protocols.secagg``) so that the buyer, and the
    coordinator, see only Σ_f c_f over a cohort of at least the contract's minimum. **This is the default
    (``DEFAULT_VARIANT``)** because total-only release is the default output policy.

    What the factory learns is how many of its own keys are on the buyer's list — not which ones, since the
    buyer reshuffles Z. We accept that: it is a number about the factory's own data, the factory already
    knows the contract's subject (e.g. "suppliers on a buyer's list"), and the buyer gains nothing.

Both variants share the inherent weakness of PSI cardinality against a party that crafts its set: a learner
with a one-key set (padded with random points to look larger) learns whether that key is in the peer's set.
Under FACTORY_LEARNS a factory could probe the buyer's list this way, but only learns membership for keys it
already holds; under BUYER_LEARNS a buyer could probe one factory — which the total-only release of the
default variant prevents. ``pad_to`` hides a party's true set size behind a public bound. The coordinator,
relaying the messages, sees only set sizes. No party can make the count larger than the true one without
holding the keys, but a dishonest responder can make it smaller by answering with random points.
"""

from __future__ import annotations

import enum
import random

from protocols.psi import ecdh, group
from protocols.psi.ecdh import BlindingState
from protocols.psi.messages import BlindedKeys, CardinalityReply
from protocols.psi.normalize import KeySet

__all__ = ["DEFAULT_VARIANT", "BlindingState", "Variant", "finish", "respond", "start"]


class Variant(enum.Enum):
    """Which party plays the learner; the other runs ``respond``."""

    FACTORY_LEARNS = "factory_learns"
    BUYER_LEARNS = "buyer_learns"

    @property
    def learner(self) -> str:
        return "factory" if self is Variant.FACTORY_LEARNS else "buyer"

    @property
    def responder(self) -> str:
        return "buyer" if self is Variant.FACTORY_LEARNS else "factory"


DEFAULT_VARIANT = Variant.FACTORY_LEARNS


def start(
    keys: KeySet, rng: random.Random, *, pad_to: int | None = None, workers: int | None = None
) -> tuple[BlindingState, BlindedKeys]:
    """Learner, round 1: blind the keys under a fresh secret a and shuffle them."""
    return ecdh.start(keys, rng, pad_to=pad_to, workers=workers)


def respond(
    keys: KeySet,
    request: BlindedKeys,
    rng: random.Random,
    *,
    pad_to: int | None = None,
    workers: int | None = None,
) -> CardinalityReply:
    """Responder, the only round: the learner's points raised to a fresh secret b, and our own; both shuffled.

    Raises InvalidPointError for an invalid or identity point and InvalidMessageError for repeated points.
    The secret b is dropped on return, so a responder can answer each request exactly once.
    """
    secret = group.random_scalar(rng)
    double_blinded = ecdh.reblind(secret, request, rng, workers=workers)
    own = ecdh.blind_keys(keys, secret, rng, pad_to=pad_to, workers=workers)
    return CardinalityReply(tuple(double_blinded), tuple(own))


def finish(state: BlindingState, reply: CardinalityReply, *, workers: int | None = None) -> int:
    """Learner, round 2: the number of distinct keys the two sets share.

    Raises InvalidPointError for an invalid or identity point and InvalidMessageError for a reply whose first
    list does not have one point per point we sent, or that repeats a point.
    """
    ecdh.check_double_blinded(state, reply.double_blinded)
    ecdh.require_distinct(reply.own_blinded, "the responder's blinded keys")
    theirs = group.blind_many(state.secret, reply.own_blinded, workers)
    return ecdh.count_common(theirs, reply.double_blinded)
