"""A node sending garbage cannot stop a run: the server rejects its message; it drops out of that round.

Each test plays one faulty client in an in-memory run and checks the survivors' sum is still exact.
"""

import dataclasses
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np
import pytest

from protocols.exceptions import InvalidMessageError
from protocols.fixedpoint import RingArray, ring_dtype
from protocols.secagg import client, server
from protocols.secagg.config import SecAggConfig, SecurityMode
from protocols.secagg.messages import (
    AdvertiseKeys,
    ConsistencyRequest,
    ConsistencySignature,
    MaskedInput,
    PublicKeys,
    ShareKeys,
    UnmaskRequest,
    UnmaskResponse,
)
from protocols.secagg.shamir import PRIME, SHARE_BYTES
from tests.protocols.secagg.staging import det_randbytes, keys_for, make_config, random_inputs

Tamper = Callable[[Any], Any]
FAULTY = "factory-1"


def run_with_faulty(cfg: SecAggConfig, inputs: Mapping[str, RingArray], tamper: Tamper) -> server.ServerState:
    """Drive every round as the coordinator does; ``tamper`` rewrites each message FAULTY sends."""
    rb = det_randbytes(7)
    keys = keys_for(cfg)
    clients = {u: client.new_client(cfg, u) for u in cfg.participants}
    srv = server.new_server(cfg)
    rejected: list[str] = []

    def deliver(
        receive: Callable[[server.ServerState, Any], server.ServerState], sender: str, msg: Any
    ) -> None:
        nonlocal srv
        try:
            srv = receive(srv, tamper(msg) if sender == FAULTY else msg)
        except InvalidMessageError:
            rejected.append(sender)

    for u in cfg.participants:
        clients[u], keys_msg = client.advertise_keys(clients[u], signing_key=keys[u], randbytes=rb)
        deliver(server.receive_keys, u, keys_msg)
    srv, tables = server.close_keys(srv)
    for u in tables:
        clients[u], share_msg = client.share_keys(clients[u], tables[u], randbytes=rb)
        deliver(server.receive_shares, u, share_msg)
    srv, relayed = server.close_shares(srv)
    for u in relayed:
        clients[u], masked_msg = client.masked_input(clients[u], relayed[u], inputs[u])
        deliver(server.receive_masked_input, u, masked_msg)
    srv, requests = server.close_masked_inputs(srv)
    if cfg.malicious:
        for u, request in requests.items():
            assert isinstance(request, ConsistencyRequest)
            clients[u], signature = client.consistency(clients[u], request, signing_key=keys[u])
            deliver(server.receive_consistency, u, signature)
        srv, requests = server.close_consistency(srv)
    for u, request in requests.items():
        assert isinstance(request, UnmaskRequest)
        clients[u], unmask_msg = client.unmask(clients[u], request)
        deliver(server.receive_unmasking, u, unmask_msg)
    srv, aggregate = server.close_unmasking(srv)
    assert rejected == [FAULTY]
    expected = np.zeros(cfg.vector_length, dtype=ring_dtype(cfg.ring_bits))
    for u in srv.u3:
        expected += inputs[u]
    np.testing.assert_array_equal(aggregate, expected)
    return srv


MODES = {"malicious": (5, 4, SecurityMode.MALICIOUS), "semi_honest": (5, 3, SecurityMode.SEMI_HONEST)}


def only(kind: type, change: Tamper) -> Tamper:
    return lambda msg: change(msg) if isinstance(msg, kind) else msg


def first_peer_envelope(msg: ShareKeys, envelope: bytes) -> ShareKeys:
    peer = next(iter(msg.envelopes))
    return dataclasses.replace(msg, envelopes={**msg.envelopes, peer: envelope})


def advert(change: Callable[[PublicKeys], PublicKeys]) -> Tamper:
    return only(AdvertiseKeys, lambda m: dataclasses.replace(m, keys=change(m.keys)))


BAD_ADVERTISEMENTS = {
    "advertisement signature flipped": advert(
        lambda k: dataclasses.replace(k, signature=bytes([k.signature[0] ^ 1]) + k.signature[1:])
    ),
    "advertisement unsigned": advert(lambda k: dataclasses.replace(k, signature=b"")),
    "seed commitment missing": advert(lambda k: dataclasses.replace(k, seed_commitment=b"")),
    "keys swapped under the signature": advert(
        lambda k: dataclasses.replace(k, cipher_public=k.mask_public[::-1])
    ),
}


@pytest.mark.parametrize("tamper", BAD_ADVERTISEMENTS.values(), ids=BAD_ADVERTISEMENTS.keys())
def test_a_bad_advertisement_leaves_only_its_sender_out(tamper: Tamper) -> None:
    """Refused by the server, so the honest clients never see it and do not refuse the table."""
    cfg = make_config(n=5, t=4)
    srv = run_with_faulty(cfg, random_inputs(cfg, seed=2), tamper)
    assert FAULTY not in srv.keys and FAULTY not in srv.u3


BEFORE_MASKED_INPUT = {
    "masked input too short": only(MaskedInput, lambda m: dataclasses.replace(m, masked=m.masked[:-1])),
    "masked input too long": only(MaskedInput, lambda m: dataclasses.replace(m, masked=m.masked + b"\0")),
    "masked input empty": only(MaskedInput, lambda m: dataclasses.replace(m, masked=b"")),
    "no envelopes": only(ShareKeys, lambda m: dataclasses.replace(m, envelopes={})),
    "one empty envelope": only(ShareKeys, lambda m: first_peer_envelope(m, b"")),
    "one truncated envelope": only(
        ShareKeys, lambda m: first_peer_envelope(m, next(iter(m.envelopes.values()))[:-1])
    ),
}


@pytest.mark.parametrize("mode", MODES.values(), ids=MODES.keys())
@pytest.mark.parametrize("tamper", BEFORE_MASKED_INPUT.values(), ids=BEFORE_MASKED_INPUT.keys())
def test_faulty_node_before_masked_input_is_left_out_of_the_sum(
    tamper: Tamper, mode: tuple[int, int, SecurityMode]
) -> None:
    cfg = make_config(mode[0], mode[1], mode=mode[2])
    srv = run_with_faulty(cfg, random_inputs(cfg, seed=3), tamper)
    assert FAULTY not in srv.u3


def bad_unmask(change: Callable[[dict[str, bytes]], dict[str, bytes]]) -> Tamper:
    return only(
        UnmaskResponse, lambda m: dataclasses.replace(m, self_mask_shares=change(dict(m.self_mask_shares)))
    )


def not_a_field_element(shares: dict[str, bytes]) -> dict[str, bytes]:
    owner = next(iter(shares))
    return {**shares, owner: PRIME.to_bytes(SHARE_BYTES, "big")}


def bad_consistency(signature: Callable[[bytes], bytes]) -> Tamper:
    return only(ConsistencySignature, lambda m: dataclasses.replace(m, signature=signature(m.signature)))


BAD_CONSISTENCY = {
    "consistency signature flipped": bad_consistency(lambda s: s[:-1] + bytes([s[-1] ^ 1])),
    "consistency signature empty": bad_consistency(lambda s: b""),
}


@pytest.mark.parametrize("tamper", BAD_CONSISTENCY.values(), ids=BAD_CONSISTENCY.keys())
def test_a_bad_consistency_signature_is_dropped_but_the_input_counts(tamper: Tamper) -> None:
    cfg = make_config(n=5, t=4)
    srv = run_with_faulty(cfg, random_inputs(cfg, seed=6), tamper)
    assert FAULTY in srv.u3 and FAULTY not in srv.u4


AFTER_MASKED_INPUT = {
    "no shares": bad_unmask(lambda shares: {}),
    "one empty share": bad_unmask(lambda shares: {**shares, next(iter(shares)): b""}),
    "share not a field element": bad_unmask(not_a_field_element),
}


@pytest.mark.parametrize("mode", MODES.values(), ids=MODES.keys())
@pytest.mark.parametrize("tamper", AFTER_MASKED_INPUT.values(), ids=AFTER_MASKED_INPUT.keys())
def test_faulty_node_after_masked_input_still_counts(
    tamper: Tamper, mode: tuple[int, int, SecurityMode]
) -> None:
    cfg = make_config(mode[0], mode[1], mode=mode[2])
    srv = run_with_faulty(cfg, random_inputs(cfg, seed=4), tamper)
    assert FAULTY in srv.u3 and srv.dropped == ()


def test_a_dropped_sender_does_not_count_its_masked_input_twice() -> None:
    """The faulty node's masked input was refused, so its mask key is rebuilt as for any dropout."""
    cfg = make_config(n=5, t=4)
    srv = run_with_faulty(cfg, random_inputs(cfg, seed=5), BEFORE_MASKED_INPUT["masked input empty"])
    assert srv.dropped == (FAULTY,)
