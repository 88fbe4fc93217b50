"""Malicious-mode parameters and encodings: the threshold floor, verify keys, and what is signed."""

import dataclasses
import hashlib

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from protocols.exceptions import InvalidMessageError
from protocols.secagg import signing
from protocols.secagg.config import SecAggConfig, SecurityMode, threshold_floor
from protocols.secagg.framing import frame
from protocols.secagg.messages import PublicKeys
from protocols.secagg.simulate import new_signing_keys, verify_keys_of
from tests.protocols.secagg.staging import make_config


@pytest.mark.parametrize(
    ("n", "cohort", "floor"),
    [
        (2, 2, 2),
        (3, 2, 3),
        (4, 2, 3),
        (5, 2, 4),
        (6, 2, 5),
        (9, 2, 7),
        (10, 2, 7),
        (10, 8, 8),
        (30, 2, 21),
        (3, 5, 5),
    ],
)
def test_threshold_floor_is_above_two_thirds(n: int, cohort: int, floor: int) -> None:
    assert threshold_floor(n, cohort) == floor
    assert 3 * threshold_floor(n, 2) > 2 * n  # two disjoint sets of signers can never both reach it


def _config(n: int, t: int, **changes: object) -> SecAggConfig:
    participants = tuple(f"p{i}" for i in range(n))
    keys = verify_keys_of(new_signing_keys(participants))
    base: dict[str, object] = {"verify_keys": keys, "mode": SecurityMode.MALICIOUS}
    return SecAggConfig(b"s", participants, t, 32, 4, **{**base, **changes})  # type: ignore[arg-type]


@pytest.mark.parametrize("n", range(2, 13))
def test_malicious_config_refuses_a_threshold_below_the_floor(n: int) -> None:
    """A coordinator picking t below ⌊2n/3⌋+1 is refused by every node's own config."""
    floor = threshold_floor(n, 2)
    assert _config(n, floor).threshold == floor
    if floor > 2:
        with pytest.raises(ValueError, match="below the floor"):
            _config(n, floor - 1)
        # The same threshold is accepted for the semi-honest baseline: the floor is what malicious mode adds.
        assert _config(n, floor - 1, mode=SecurityMode.SEMI_HONEST).mode is SecurityMode.SEMI_HONEST


def test_malicious_config_needs_exactly_one_valid_key_per_participant() -> None:
    keys = dict(_config(4, 3).verify_keys)
    bad = [
        {k: v for k, v in keys.items() if k != "p1"},  # missing
        {**keys, "stranger": keys["p0"]},  # a key for a non-participant
        {**keys, "p2": keys["p2"][:31]},  # wrong length
        {**keys, "p2": keys["p2"].hex()},  # not bytes
    ]
    for verify_keys in bad:
        with pytest.raises(ValueError):
            _config(4, 3, verify_keys=verify_keys)
    with pytest.raises(ValueError):
        _config(4, 3, mode="active")
    assert _config(4, 3, mode="malicious").mode is SecurityMode.MALICIOUS  # as a ticket carries it


def test_config_copies_verify_keys_and_loads_them() -> None:
    cfg = make_config()
    assert cfg.verifier("factory-1").public_bytes_raw() == cfg.verify_keys["factory-1"]
    assert dataclasses.replace(cfg) == cfg
    with pytest.raises(InvalidMessageError):
        cfg.verifier("outsider")


def test_seed_commitment_is_sha256_of_the_framed_session_owner_and_seed() -> None:
    seed = bytes(range(32))
    expected = hashlib.sha256(
        frame(b"industrial-dataspace/secagg/v1/seed-commitment", b"sid", b"alice", seed)
    ).digest()
    assert signing.seed_commitment(b"sid", "alice", seed) == expected
    assert signing.seed_commitment(b"sid", "bob", seed) != expected
    assert signing.seed_commitment(b"sid2", "alice", seed) != expected


def test_encodings_are_domain_separated_and_unambiguous() -> None:
    keys = PublicKeys(b"c" * 32, b"m" * 32, b"h" * 32)
    advert = signing.advertisement_message(b"sid", "alice", keys)
    assert advert != signing.advertisement_message(b"sid", "bob", keys)
    assert advert != signing.advertisement_message(
        b"sid", "alice", dataclasses.replace(keys, seed_commitment=b"")
    )
    consistency = signing.consistency_message(b"sid", ["a", "b"])
    assert consistency != signing.consistency_message(b"sid", ["ab"])
    assert consistency != signing.consistency_message(b"sid", ["b", "a"])
    assert consistency != signing.consistency_message(b"other", ["a", "b"])
    assert advert[:40] != consistency[:40]  # different labels first


def test_verify_raises_on_bad_signatures() -> None:
    key = Ed25519PrivateKey.generate()
    signature = signing.sign(key, b"message")
    signing.verify(key.public_key(), signature, b"message", what="x")
    for bad_signature, message in [
        (signature, b"other message"),
        (bytes([signature[0] ^ 1]) + signature[1:], b"message"),
        (signature[:63], b"message"),
        (b"", b"message"),
    ]:
        with pytest.raises(InvalidMessageError, match="x carries"):
            signing.verify(key.public_key(), bad_signature, message, what="x")
    with pytest.raises(InvalidMessageError):
        signing.verify(Ed25519PrivateKey.generate().public_key(), signature, b"message", what="x")
