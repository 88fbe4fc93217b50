"""A dishonest coordinator, played attack by attack: each one succeeds against the semi-honest baseline and
is stopped in malicious mode.

Trust model: "Key advertisements are signed"; "a consistency round (survivors sign the survivor set they
saw) precedes unmasking; thresholds ... with a floor of ⌊2n/3⌋+1"; "self-mask seeds are committed in the
signed advertisement so a bad share is detected and its sender excluded".
"""

import dataclasses
from collections.abc import Mapping

import numpy as np
import pytest

from protocols.exceptions import InvalidMessageError
from protocols.fixedpoint import RingArray, unpack
from protocols.secagg import client, server, signing
from protocols.secagg.client import ClientState
from protocols.secagg.config import SecAggConfig, threshold_floor
from protocols.secagg.envelope import SharePair, open_shares, seal_shares
from protocols.secagg.keys import KeyPair, generate_keypair, share_key
from protocols.secagg.masking import add_masks
from protocols.secagg.messages import (
    AdvertiseKeys,
    ConsistencyRequest,
    KeyTable,
    RelayedShares,
    UnmaskRequest,
)
from protocols.secagg.pairwise import negated, pairwise_masks
from protocols.secagg.shamir import SHARE_BYTES, combine_secret
from protocols.secagg.simulate import DropPoint, simulate
from tests.protocols.secagg.staging import (
    MALICIOUS,
    SEMI_HONEST,
    SIGNING_KEYS,
    det_randbytes,
    keys_for,
    make_config,
    plain_sum,
    random_inputs,
)

VICTIM = "factory-0"


def _unmask_input(
    cfg: SecAggConfig, y: bytes, seed: bytes, mask_secret: bytes, publics: Mapping[str, bytes]
) -> RingArray:
    """What a server holding b_u and u's mask secret key computes from y_u: x_u itself."""
    x = unpack(y, cfg.ring_bits, cfg.vector_length).copy()
    add_masks(x, [(seed, -1), *negated(pairwise_masks(cfg, VICTIM, mask_secret, publics))])
    return x


def _advertised(cfg: SecAggConfig) -> tuple[dict[str, ClientState], KeyTable]:
    rb, keys = det_randbytes(1), keys_for(cfg)
    states, table = {}, {}
    for u in cfg.participants:
        states[u], message = client.advertise_keys(
            client.new_client(cfg, u), signing_key=keys[u], randbytes=rb
        )
        table[u] = message.keys
    return states, KeyTable(table)


# (a) Key substitution -------------------------------------------------------------------------------------


def _substituted(table: KeyTable, fakes: Mapping[str, KeyPair]) -> KeyTable:
    return KeyTable(
        {
            u: dataclasses.replace(k, cipher_public=fakes[u].public) if u in fakes else k
            for u, k in table.keys.items()
        }
    )


def test_key_substitution_recovers_an_input_in_semi_honest_mode() -> None:
    """The server shows the victim its own cipher keys for t peers, opens the shares sent to them, and
    rebuilds both of the victim's secrets: y_u then gives x_u exactly."""
    cfg = make_config(5, 3, 64, 16, SEMI_HONEST)
    inputs = random_inputs(cfg, 1)
    states, table = _advertised(cfg)
    fakes = {v: generate_keypair(det_randbytes(100 + i)) for i, v in enumerate(cfg.participants[1:4])}
    states[VICTIM], sent = client.share_keys(states[VICTIM], _substituted(table, fakes))  # accepted
    ids = {"session_id": cfg.session_id, "sender": VICTIM}
    victim_public = table.keys[VICTIM].cipher_public
    opened = {
        cfg.x_coordinate(v): open_shares(
            share_key(fake.secret, victim_public, **ids, recipient=v), sent.envelopes[v], **ids, recipient=v
        )
        for v, fake in fakes.items()
    }
    seed = combine_secret({x: pair.self_mask for x, pair in opened.items()}, 3)
    mask_secret = combine_secret({x: pair.mask_key for x, pair in opened.items()}, 3)
    # The victim still needs envelopes "from" the faked peers; the server seals them under the fake keys.
    relayed = {
        v: seal_shares(
            share_key(fake.secret, victim_public, session_id=cfg.session_id, sender=v, recipient=VICTIM),
            SharePair(bytes(SHARE_BYTES), bytes(SHARE_BYTES)),
            session_id=cfg.session_id,
            sender=v,
            recipient=VICTIM,
        )
        for v, fake in fakes.items()
    }
    _, masked = client.masked_input(states[VICTIM], RelayedShares(VICTIM, relayed), inputs[VICTIM])
    publics = {u: table.keys[u].mask_public for u in (VICTIM, *fakes)}
    assert np.array_equal(_unmask_input(cfg, masked.masked, seed, mask_secret, publics), inputs[VICTIM])


@pytest.mark.parametrize("resign", [False, True], ids=["signature-kept", "server-resigns"])
def test_key_substitution_is_refused_by_every_honest_client(resign: bool) -> None:
    cfg = make_config(5, 4)
    states, table = _advertised(cfg)
    target = "factory-2"
    fake = generate_keypair(det_randbytes(5))
    forged = dataclasses.replace(table.keys[target], cipher_public=fake.public)
    if resign:  # the server has a key of its own, not the target's
        server_key = SIGNING_KEYS["factory-39"]
        message = signing.advertisement_message(cfg.session_id, target, forged)
        forged = dataclasses.replace(forged, signature=signing.sign(server_key, message))
    tampered = KeyTable({**table.keys, target: forged})
    for u, state in states.items():
        with pytest.raises(InvalidMessageError, match=target if u != target else "own keys"):
            client.share_keys(state, tampered)
    with pytest.raises(InvalidMessageError, match=target):  # and an honest server refuses it too
        server.receive_keys(server.new_server(cfg), AdvertiseKeys(target, forged))


# (b) Inconsistent survivor sets ---------------------------------------------------------------------------


def _masked_inputs_sent(cfg: SecAggConfig) -> tuple[dict[str, ClientState], server.ServerState]:
    """Every client honest up to and including the masked input; the server holds the round's messages."""
    inputs, rb = random_inputs(cfg, 2), det_randbytes(2)
    states, table = _advertised(cfg)
    srv = server.new_server(cfg)
    for u in cfg.participants:
        srv = server.receive_keys(srv, AdvertiseKeys(u, table.keys[u]))
    srv, tables = server.close_keys(srv)
    for u in cfg.participants:
        states[u], shares = client.share_keys(states[u], tables[u], randbytes=rb)
        srv = server.receive_shares(srv, shares)
    srv, relayed = server.close_shares(srv)
    for u in cfg.participants:
        states[u], masked = client.masked_input(states[u], relayed[u], inputs[u])
        srv = server.receive_masked_input(srv, masked)
    return states, srv


def test_split_views_recover_an_input_in_semi_honest_mode() -> None:
    """n = 5, t = 3, the server colluding with one node (factory-4, whose held shares it reads).

    Two clients are told the victim dropped and reveal shares of its mask key; two others, the victim among
    them, are told it survived and reveal shares of b_u. With the colluder's two shares that is t of each.
    """
    cfg = make_config(5, 3, 64, 16, SEMI_HONEST)
    states, srv = _masked_inputs_sent(cfg)
    colluder = states["factory-4"].held_shares[VICTIM]
    told_dropped = UnmaskRequest(("factory-1", "factory-2", "factory-3"), (VICTIM, "factory-4"))
    told_survived = UnmaskRequest((VICTIM, "factory-3", "factory-4"), ("factory-1", "factory-2"))
    key_shares = {cfg.x_coordinate("factory-4"): colluder.mask_key}
    seed_shares = {cfg.x_coordinate("factory-4"): colluder.self_mask}
    for u in ("factory-1", "factory-2"):
        key_shares[cfg.x_coordinate(u)] = client.unmask(states[u], told_dropped)[1].mask_key_shares[VICTIM]
    for u in (VICTIM, "factory-3"):
        seed_shares[cfg.x_coordinate(u)] = client.unmask(states[u], told_survived)[1].self_mask_shares[VICTIM]
    seed, mask_secret = combine_secret(seed_shares, 3), combine_secret(key_shares, 3)
    publics = {u: srv.keys[u].mask_public for u in cfg.participants}
    recovered = _unmask_input(cfg, srv.masked[VICTIM], seed, mask_secret, publics)
    assert np.array_equal(recovered, random_inputs(cfg, 2)[VICTIM])


def test_split_views_are_refused_in_malicious_mode() -> None:
    """Same attack in malicious mode. t = 3 is refused outright for n = 5; at the floor t = 4 each honest
    client signs the one set it is shown, and none reveals a share for any request the server can build."""
    with pytest.raises(ValueError, match="floor"):
        make_config(5, 3, 64, 16, MALICIOUS)
    cfg = make_config(5, threshold_floor(5, 2), 64, 16, MALICIOUS)
    states, _ = _masked_inputs_sent(cfg)
    keys = keys_for(cfg)
    view_a = ("factory-1", "factory-2", "factory-3", "factory-4")  # the victim "dropped"
    view_b = (VICTIM, "factory-2", "factory-3", "factory-4")  # the victim "survived"
    shown = {"factory-1": view_a, "factory-2": view_a, VICTIM: view_b, "factory-3": view_b}
    signatures: dict[tuple[str, ...], dict[str, bytes]] = {view_a: {}, view_b: {}}
    for u, view in shown.items():
        states[u], signed = client.consistency(states[u], ConsistencyRequest(view), signing_key=keys[u])
        signatures[view][u] = signed.signature
    for view in (view_a, view_b):  # the colluder signs whatever the server likes
        signatures[view]["factory-4"] = signing.sign(
            keys["factory-4"], signing.consistency_message(cfg.session_id, view)
        )
    everything = {**signatures[view_a], **signatures[view_b]}
    for u, view in shown.items():
        other = view_b if view is view_a else view_a
        for survivors, offered in [(view, signatures[view]), (view, everything), (other, signatures[other])]:
            dropped = tuple(v for v in cfg.participants if v not in survivors)
            with pytest.raises(InvalidMessageError):
                client.unmask(states[u], UnmaskRequest(survivors, dropped, offered))


# (d) Wrong shares from a responder ------------------------------------------------------------------------


def test_wrong_shares_from_one_responder_are_caught_and_the_sum_stays_exact() -> None:
    """The liar sends a wrong share of every seed and of the dropped party's key. The semi-honest baseline
    returns a wrong sum (or, where a key check exists, fails the run); malicious mode gives the exact sum
    and names the liar, whose own input still counts."""
    liar, dropped = {"factory-1"}, {"factory-6": DropPoint.BEFORE_MASKED_INPUT}
    semi_honest = make_config(7, 5, 64, 32, SEMI_HONEST)
    inputs = random_inputs(semi_honest, 3)
    result = simulate(semi_honest, inputs, corrupt_shares_of=liar, randbytes=det_randbytes(3))
    assert result.aggregate.tolist() != plain_sum(semi_honest, inputs, result.survivors)
    with pytest.raises(InvalidMessageError, match="does not match"):
        simulate(semi_honest, inputs, dropped, corrupt_shares_of=liar, randbytes=det_randbytes(3))

    cfg = make_config(7, 5, 64, 32, MALICIOUS)
    for drops in ({}, dropped):
        result = simulate(
            cfg, inputs, drops, signing_keys=keys_for(cfg), corrupt_shares_of=liar, randbytes=det_randbytes(3)
        )
        assert result.aggregate.tolist() == plain_sum(cfg, inputs, result.survivors)
        assert set(result.excluded) == liar and liar <= set(result.survivors)


def test_a_dealer_whose_shares_contradict_its_commitment_is_named() -> None:
    """A client that commits to one seed but deals shares of (and masks with) another stops the run, named."""
    cfg = make_config(5, 4, 32, 8)
    keys, rb = keys_for(cfg), det_randbytes(4)
    inputs = random_inputs(cfg, 4)
    states = {u: client.new_client(cfg, u) for u in cfg.participants}
    srv = server.new_server(cfg)
    for u in cfg.participants:
        states[u], message = client.advertise_keys(states[u], signing_key=keys[u], randbytes=rb)
        srv = server.receive_keys(srv, message)
    states["factory-3"] = dataclasses.replace(states["factory-3"], self_seed=b"\x07" * 32)
    srv, tables = server.close_keys(srv)
    for u in cfg.participants:
        states[u], shares = client.share_keys(states[u], tables[u], randbytes=rb)
        srv = server.receive_shares(srv, shares)
    srv, relayed = server.close_shares(srv)
    for u in cfg.participants:
        states[u], masked = client.masked_input(states[u], relayed[u], inputs[u])
        srv = server.receive_masked_input(srv, masked)
    srv, requests = server.close_masked_inputs(srv)
    for u, request in requests.items():
        assert isinstance(request, ConsistencyRequest)
        states[u], signed = client.consistency(states[u], request, signing_key=keys[u])
        srv = server.receive_consistency(srv, signed)
    srv, unmask_requests = server.close_consistency(srv)
    for u, request in unmask_requests.items():
        states[u], response = client.unmask(states[u], request)
        srv = server.receive_unmasking(srv, response)
    with pytest.raises(InvalidMessageError, match="'factory-3' dealt bad shares"):
        server.close_unmasking(srv)


# (f) Unmask requests with signatures that do not hold -------------------------------------------------------


@pytest.fixture(scope="module")
def signed_run() -> tuple[SecAggConfig, dict[str, ClientState], UnmaskRequest]:
    """n = 5, t = 4, factory-4 dropped before its masked input: U3 = factory-0..3 have all signed U3."""
    cfg = make_config(5, 4, 32, 8)
    keys, rb, inputs = keys_for(cfg), det_randbytes(6), random_inputs(cfg, 6)
    states = {u: client.new_client(cfg, u) for u in cfg.participants}
    srv = server.new_server(cfg)
    for u in cfg.participants:
        states[u], message = client.advertise_keys(states[u], signing_key=keys[u], randbytes=rb)
        srv = server.receive_keys(srv, message)
    srv, tables = server.close_keys(srv)
    for u in cfg.participants:
        states[u], shares = client.share_keys(states[u], tables[u], randbytes=rb)
        srv = server.receive_shares(srv, shares)
    srv, relayed = server.close_shares(srv)
    for u in cfg.participants[:4]:
        states[u], masked = client.masked_input(states[u], relayed[u], inputs[u])
        srv = server.receive_masked_input(srv, masked)
    srv, requests = server.close_masked_inputs(srv)
    for u, request in requests.items():
        assert isinstance(request, ConsistencyRequest)
        states[u], signed = client.consistency(states[u], request, signing_key=keys[u])
        srv = server.receive_consistency(srv, signed)
    srv, unmask_requests = server.close_consistency(srv)
    return cfg, states, unmask_requests[VICTIM]


def _sign_set(cfg: SecAggConfig, party: str, survivors: tuple[str, ...]) -> bytes:
    return signing.sign(SIGNING_KEYS[party], signing.consistency_message(cfg.session_id, survivors))


def test_the_honest_unmask_request_is_answered(
    signed_run: tuple[SecAggConfig, dict[str, ClientState], UnmaskRequest],
) -> None:
    cfg, states, request = signed_run
    assert len(request.signatures) == cfg.threshold
    _, response = client.unmask(states[VICTIM], request)
    assert set(response.self_mask_shares) == set(request.survivors) and set(response.mask_key_shares) == {
        "factory-4"
    }


FORGERIES = [
    "forged",
    "copied from another member",
    "non-member",
    "too few",
    "other set",
    "own altered",
    "other survivors",
]


@pytest.mark.parametrize("forgery", FORGERIES)
def test_unmask_requests_with_signatures_that_do_not_hold_are_refused(
    signed_run: tuple[SecAggConfig, dict[str, ClientState], UnmaskRequest], forgery: str
) -> None:
    cfg, states, honest = signed_run
    sigs = dict(honest.signatures)
    everyone = cfg.participants
    request = {
        "forged": dataclasses.replace(honest, signatures={**sigs, "factory-1": bytes(64)}),
        "copied from another member": dataclasses.replace(
            honest, signatures={**sigs, "factory-1": sigs["factory-2"]}
        ),
        "non-member": dataclasses.replace(
            honest, signatures={**sigs, "factory-4": _sign_set(cfg, "factory-4", honest.survivors)}
        ),
        "too few": dataclasses.replace(
            honest, signatures={u: s for u, s in sigs.items() if u != "factory-3"}
        ),
        "other set": dataclasses.replace(
            honest, signatures={u: _sign_set(cfg, u, everyone) for u in honest.survivors}
        ),
        "own altered": dataclasses.replace(
            honest, signatures={**sigs, VICTIM: _sign_set(cfg, "factory-1", honest.survivors)}
        ),
        # Even t valid signatures on another set do not make the client answer for a set it did not sign.
        "other survivors": UnmaskRequest(everyone, (), {u: _sign_set(cfg, u, everyone) for u in everyone}),
    }[forgery]
    with pytest.raises(InvalidMessageError):
        client.unmask(states[VICTIM], request)
