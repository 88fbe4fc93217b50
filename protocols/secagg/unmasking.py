"""The server's last step: rebuild the secrets that remove the masks, then sum the survivors' inputs.

In malicious mode every rebuilt secret is checked (b_v against v's signed commitment, a dropped party's mask
key against its advertised public key), so a responder sending a wrong share is found, named and ignored
for every later secret instead of silently corrupting the sum.
"""

from collections.abc import Mapping

import numpy as np

from protocols.exceptions import InvalidMessageError
from protocols.fixedpoint import RingArray, ring_dtype, unpack
from protocols.secagg import signing
from protocols.secagg.config import SecAggConfig
from protocols.secagg.keys import public_key_of
from protocols.secagg.masking import Sign, add_masks
from protocols.secagg.messages import PublicKeys
from protocols.secagg.pairwise import pairwise_masks
from protocols.secagg.reconstruction import Check, recover

SharesByResponder = Mapping[str, Mapping[str, bytes]]  # responder -> owner -> share


def unmask_sum(
    cfg: SecAggConfig,
    *,
    keys: Mapping[str, PublicKeys],
    masked: Mapping[str, bytes],
    dropped: tuple[str, ...],
    self_mask_shares: SharesByResponder,
    mask_key_shares: SharesByResponder,
) -> tuple[RingArray, dict[str, str]]:
    """Sum of the survivors' (``masked``'s) inputs, and the responders excluded for wrong shares."""
    excluded: dict[str, str] = {}
    total = np.zeros(cfg.vector_length, dtype=ring_dtype(cfg.ring_bits))
    for u in cfg.ordered(masked):
        np.add(total, unpack(masked[u], cfg.ring_bits, cfg.vector_length), out=total)
    corrections: list[tuple[bytes, Sign]] = []
    for v in cfg.ordered(masked):
        check = _seed_check(cfg, v, keys[v]) if cfg.malicious else None
        seed = _rebuild(cfg, v, "self-mask seed", self_mask_shares, check, excluded)
        corrections.append((seed, -1))
    survivors = {u: keys[u].mask_public for u in masked}
    for d in dropped:
        secret = _rebuild(
            cfg, d, "mask key", mask_key_shares, _key_check(keys[d]) if cfg.malicious else None, excluded
        )
        if public_key_of(secret) != keys[d].mask_public:
            raise InvalidMessageError(f"reconstructed mask key of {d!r} does not match its advertised key")
        # The survivors hold the other halves of the masks d would have added: adding d's masks cancels them.
        corrections.extend(pairwise_masks(cfg, d, secret, survivors))
    add_masks(total, corrections)
    return total, excluded


def _rebuild(
    cfg: SecAggConfig,
    owner: str,
    what: str,
    shares: SharesByResponder,
    check: Check | None,
    excluded: dict[str, str],
) -> bytes:
    """Recover ``owner``'s secret from the responders not yet excluded, and exclude any found lying."""
    usable = {w: by_owner[owner] for w, by_owner in shares.items() if w not in excluded}
    xs = {w: cfg.x_coordinate(w) for w in usable}
    try:
        recovery = recover(usable, xs, cfg.threshold, check)
    except InvalidMessageError as exc:
        if check is None:
            raise
        raise InvalidMessageError(
            f"no {cfg.threshold} shares of the {what} of {owner!r} match what it signed: {owner!r} dealt bad "
            f"shares, or fewer than {cfg.threshold} responders are honest"
        ) from exc
    for liar in recovery.liars:
        excluded[liar] = f"sent a share of the {what} of {owner!r} that is not on the dealt polynomial"
    return recovery.secret


def _seed_check(cfg: SecAggConfig, owner: str, keys: PublicKeys) -> Check:
    return lambda seed: signing.seed_commitment(cfg.session_id, owner, seed) == keys.seed_commitment


def _key_check(keys: PublicKeys) -> Check:
    return lambda secret: public_key_of(secret) == keys.mask_public
