"""Framing, configuration, key agreement and share envelopes."""

import dataclasses

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from protocols.exceptions import InvalidMessageError
from protocols.secagg.config import SecAggConfig, SecurityMode
from protocols.secagg.envelope import SharePair, open_shares, seal_shares
from protocols.secagg.framing import frame, unframe
from protocols.secagg.keys import generate_keypair, mask_seed, public_key_of, share_key
from tests.protocols.secagg.staging import det_randbytes, make_config


@settings(max_examples=50)
@given(st.lists(st.binary(max_size=40), max_size=5))
def test_frame_round_trip(fields: list[bytes]) -> None:
    assert unframe(frame(*fields), len(fields)) == tuple(fields)


@pytest.mark.parametrize(
    "data", [b"\x00\x00", b"\x00\x00\x00\x05abc", frame(b"ab") + b"!", frame(b"a", b"b")]
)
def test_unframe_rejects_malformed(data: bytes) -> None:
    with pytest.raises(InvalidMessageError):
        unframe(data, 1)


def test_frame_is_unambiguous() -> None:
    assert frame(b"ab", b"c") != frame(b"a", b"bc")


@pytest.mark.parametrize(
    "changes",
    [
        {"session_id": b""},
        {"participants": ("a",)},
        {"participants": ("a", "a", "b")},
        {"participants": ("a", "")},
        {"threshold": 1},
        {"threshold": 5},
        {"ring_bits": 16},
        {"vector_length": 0},
    ],
)
def test_config_validation(changes: dict[str, object]) -> None:
    base = {
        "session_id": b"s",
        "participants": ("a", "b", "c", "d"),
        "threshold": 2,
        "ring_bits": 32,
        "vector_length": 1,
        "mode": SecurityMode.SEMI_HONEST,
    }
    SecAggConfig(**base)  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        SecAggConfig(**{**base, **changes})  # type: ignore[arg-type]


def test_config_positions_and_order() -> None:
    cfg = make_config(4, 3, 64, 10)
    assert cfg.x_coordinate("factory-0") == 1 and cfg.x_coordinate("factory-3") == 4
    assert cfg.ordered(["factory-3", "factory-1"]) == ("factory-1", "factory-3")
    assert cfg.packed_bytes == 80
    with pytest.raises(InvalidMessageError):
        cfg.position("outsider")
    assert dataclasses.replace(cfg) == cfg


def test_key_agreement_is_symmetric_and_bound_to_session_and_pair() -> None:
    a, b = generate_keypair(det_randbytes(1)), generate_keypair(det_randbytes(2))
    assert public_key_of(a.secret) == a.public
    seed_ab = mask_seed(a.secret, b.public, session_id=b"s1", first="a", second="b")
    assert seed_ab == mask_seed(b.secret, a.public, session_id=b"s1", first="a", second="b")
    assert seed_ab != mask_seed(a.secret, b.public, session_id=b"s2", first="a", second="b")
    assert seed_ab != mask_seed(a.secret, b.public, session_id=b"s1", first="b", second="a")
    ab = share_key(a.secret, b.public, session_id=b"s1", sender="a", recipient="b")
    assert ab == share_key(b.secret, a.public, session_id=b"s1", sender="a", recipient="b")
    assert ab != share_key(b.secret, a.public, session_id=b"s1", sender="b", recipient="a")
    assert len({seed_ab, ab}) == 2 and len(ab) == 32


@pytest.mark.parametrize("public", [bytes(32), b"\x01" * 31], ids=["low-order", "short"])
def test_key_agreement_rejects_bad_public_keys(public: bytes) -> None:
    with pytest.raises(InvalidMessageError):
        mask_seed(generate_keypair().secret, public, session_id=b"s", first="a", second="b")


def test_envelope_round_trip_and_binding() -> None:
    key = bytes(range(32))
    shares = SharePair(b"\x11" * 32, b"\x22" * 32)
    ids = {"session_id": b"s", "sender": "a", "recipient": "b"}
    sealed = seal_shares(key, shares, **ids)
    assert open_shares(key, sealed, **ids) == shares
    assert shares.self_mask not in sealed and shares.mask_key not in sealed
    for wrong in ({"session_id": b"t"}, {"sender": "c"}, {"recipient": "a"}):
        with pytest.raises(InvalidMessageError):
            open_shares(key, sealed, **{**ids, **wrong})  # type: ignore[arg-type]
