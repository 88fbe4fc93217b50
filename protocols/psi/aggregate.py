"""Summing the factories' decrypted points (S_f + r_f)·G so that only the total reaches the buyer.

Each factory i adds m_i·G with m_i = Σ_{j after i} PRF(s_ij) − Σ_{j before i} PRF(s_ij) mod ℓ, where s_ij
is a seed that i and j share (agreed by the integration, e.g. with the X25519 keys of ``protocols.secagg``).
The masks cancel in the sum over all participants, and a single masked point is uniform to anyone without
the seeds, so the buyer cannot decrypt one factory's S_f even if the coordinator hands it over. There is no
dropout recovery: a participant that masked but did not deliver makes the total unrecoverable, and the
integration must rerun the round among the rest under a new session id (fresh masks).
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping, Sequence

from protocols.psi import group
from protocols.psi.dlog import DEFAULT_BOUND, discrete_log
from protocols.psi.messages import MaskedPoint

MASK_DOMAIN = b"industrial-dataspace/psi/v1/pairwise-mask"
MIN_SEED_BYTES = 16


def _field(data: bytes) -> bytes:
    return len(data).to_bytes(4, "big") + data


def pair_mask(seed: bytes, session_id: bytes, first: str, second: str) -> int:
    """PRF(seed) as a scalar, bound to the session and the ordered pair so that no two uses share a mask."""
    if len(seed) < MIN_SEED_BYTES:
        raise ValueError(f"pairwise seeds need at least {MIN_SEED_BYTES} bytes, got {len(seed)}")
    message = b"".join(
        _field(part) for part in (MASK_DOMAIN, session_id, first.encode(), second.encode(), seed)
    )
    return int.from_bytes(hashlib.sha512(message).digest(), "little") % group.GROUP_ORDER


def own_mask(me: str, participants: Sequence[str], seeds: Mapping[str, bytes], session_id: bytes) -> int:
    """m_i: + PRF(s_ij) for every j after ``me`` in ``participants``, − for every j before, mod ℓ."""
    if len(set(participants)) != len(participants):
        raise ValueError("participants must be distinct")
    if me not in participants:
        raise ValueError(f"{me!r} is not a participant")
    if len(participants) < 2:
        raise ValueError("masking needs at least two participants")
    mine = participants.index(me)
    total = 0
    for position, peer in enumerate(participants):
        if peer == me:
            continue
        if peer not in seeds:
            raise ValueError(f"no pairwise seed for {peer!r}")
        later = position > mine
        first, second = (me, peer) if later else (peer, me)
        mask = pair_mask(seeds[peer], session_id, first, second)
        total += mask if later else -mask
    return total % group.GROUP_ORDER


def mask_point(
    point: bytes, me: str, participants: Sequence[str], seeds: Mapping[str, bytes], session_id: bytes
) -> MaskedPoint:
    """Factory: what it sends to the coordinator, (S_f + r_f)·G + m_f·G."""
    return MaskedPoint(
        group.add_points(
            point, group.base_mult(group.scalar_from_int(own_mask(me, participants, seeds, session_id)))
        )
    )


def sum_points(points: Iterable[MaskedPoint]) -> MaskedPoint:
    """Coordinator: add the masked points of all participants (each validated); the masks cancel."""
    total = group.IDENTITY
    for masked in points:
        total = group.add_points(total, group.validate_point(masked.point))
    return MaskedPoint(total)


def recover_total(total: MaskedPoint, masks: Iterable[bytes], bound: int = DEFAULT_BOUND) -> int:
    """Buyer: Σ_f S_f from (Σ_f S_f + r_f)·G, given the r_f of exactly the factories that were summed.

    Raises DiscreteLogError when the total is not below ``bound`` (or the point was tampered with).
    """
    r = sum(group.scalar_to_int(mask) for mask in masks) % group.GROUP_ORDER
    return discrete_log(group.sub_points(total.point, group.base_mult(group.scalar_from_int(r))), bound)
