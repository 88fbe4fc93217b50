"""Which masks a party adds: its self mask PRG(b_u) and one signed pairwise mask PRG(s_uv) per peer.

Shared by the client, which adds them, and the server, which adds a dropped party's pairwise masks in its
place so that the survivors' halves cancel.
"""

from collections.abc import Mapping

from protocols.fixedpoint import RingArray
from protocols.secagg.config import SecAggConfig
from protocols.secagg.keys import agree_all, derive_mask_seed
from protocols.secagg.masking import Sign, add_masks, prg


def pairwise_masks(
    cfg: SecAggConfig, owner: str, owner_secret: bytes, peer_publics: Mapping[str, bytes]
) -> list[tuple[bytes, Sign]]:
    """The masks ``owner`` adds for each peer: +PRG(s_uv) when v comes after u in participant order, else -.

    The two parties of a pair derive the same seed and opposite signs, so the pair's masks cancel in a sum.
    """
    return signed_seeds(cfg, owner, pairwise_seeds(cfg, owner, owner_secret, peer_publics))


def signed_seeds(cfg: SecAggConfig, owner: str, seeds: Mapping[str, bytes]) -> list[tuple[bytes, Sign]]:
    """Each peer's seed with the sign ``owner`` adds its mask with: + if the peer comes later, else -."""
    mine = cfg.position(owner)
    return [(seed, 1 if cfg.position(peer) > mine else -1) for peer, seed in seeds.items()]


def pairwise_seeds(
    cfg: SecAggConfig, owner: str, owner_secret: bytes, peer_publics: Mapping[str, bytes]
) -> dict[str, bytes]:
    """The seed ``owner`` shares with each peer, by peer; both ends of a pair derive the same one.

    Other protocols of the same run (encrypted scoring, set-intersection sums) mask with these seeds
    under their own domain, so one key agreement serves the whole run.
    """
    mine = cfg.position(owner)
    seeds = {}
    for peer, shared in agree_all(
        owner_secret, {v: k for v, k in peer_publics.items() if v != owner}
    ).items():
        first, second = (owner, peer) if cfg.position(peer) > mine else (peer, owner)
        seeds[peer] = derive_mask_seed(shared, session_id=cfg.session_id, first=first, second=second)
    return seeds


def negated(masks: list[tuple[bytes, Sign]]) -> list[tuple[bytes, Sign]]:
    return [(seed, -1 if sign == 1 else 1) for seed, sign in masks]


def mask_vector(cfg: SecAggConfig, self_seed: bytes, masks: list[tuple[bytes, Sign]]) -> RingArray:
    """PRG(b_u) plus every mask in ``masks``: what a client adds to its input."""
    total = prg(self_seed, cfg.vector_length, cfg.ring_bits)
    add_masks(total, masks)
    return total
