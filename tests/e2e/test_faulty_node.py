"""A node sending garbage drops out of the run; the coordinator's driver ends it with the others' exact sum.

Every kind of garbage is played here in-process: honest nodes run the client state machine behind the real
RunChannel, serde and session registry, and one of them rewrites one of its protobuf messages. (The same
faults from real node processes are in test_dropouts.py.)
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import UTC, datetime
from types import SimpleNamespace
from typing import Any, cast

import numpy as np
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from coordinator.server.peer_keys import Registration
from coordinator.server.run_channel import RunChannel, RunFailed
from coordinator.server.runtime import ServerContext
from coordinator.server.sessions import NodeSession, SessionRegistry
from node.serde import decode_server, encode_client
from proto.dataspace.v1 import node_service_pb2 as pb
from proto.dataspace.v1 import secagg_pb2 as spb
from protocols.fixedpoint import ring_dtype
from protocols.secagg import client
from protocols.secagg.config import SecAggConfig
from protocols.secagg.messages import ConsistencyRequest, KeyTable, RelayedShares, UnmaskRequest
from protocols.secagg.shamir import PRIME

FAULTY = "factory-1"
Change = Callable[[pb.FromNode], pb.FromNode]
Garble = tuple[str, Change]  # the round (SecAggClientMessage oneof name) whose reply is changed, and how


def _empty(_: pb.FromNode) -> pb.FromNode:
    return pb.FromNode(secagg=spb.SecAggClientMessage())


def _no_body(_: pb.FromNode) -> pb.FromNode:
    return pb.FromNode()


def _short_vector(message: pb.FromNode) -> pb.FromNode:
    message.secagg.masked_input.vector = message.secagg.masked_input.vector[:-3]
    return message


def _wrong_round(_: pb.FromNode) -> pb.FromNode:
    return pb.FromNode(secagg=spb.SecAggClientMessage(encrypted_shares=spb.EncryptedShares()))


def _empty_shares(message: pb.FromNode) -> pb.FromNode:
    message.secagg.unmask_shares.Clear()
    return message


def _corrupted_share(message: pb.FromNode) -> pb.FromNode:
    """One seed share off by one: still a field element of the right length, so only its value is wrong."""
    shares = message.secagg.unmask_shares.seed_shares
    owner = sorted(shares)[0]
    value = (int.from_bytes(shares[owner], "big") + 1) % PRIME
    shares[owner] = value.to_bytes(len(shares[owner]), "big")
    return message


async def _node(
    ctx: Any,
    channel: RunChannel,
    state: client.ClientState,
    key: Ed25519PrivateKey,
    x: Any,
    garble: Garble | None,
) -> None:
    """One node: answer every round message from the coordinator; ``garble`` rewrites one round's reply."""
    pid = state.client_id
    session = NodeSession(pid, {}, datetime.now(UTC), datetime.now(UTC))
    ctx.sessions.register(session)
    state, reply = client.advertise_keys(state, signing_key=key)
    while True:
        message = pb.FromNode(secagg=encode_client(reply))
        if garble is not None and message.secagg.WhichOneof("round") == garble[0]:
            message = garble[1](message)
        channel.inbox.put_nowait((pid, message))
        incoming = await session.outbox.get()
        if incoming is None or incoming.job.WhichOneof("body") != "secagg":
            return
        match decode_server(incoming.job.secagg, pid):
            case KeyTable() as table:
                state, reply = client.share_keys(state, table)
            case RelayedShares() as relayed:
                state, reply = client.masked_input(state, relayed, x)
            case ConsistencyRequest() as request:
                state, reply = client.consistency(state, request, signing_key=key)
            case UnmaskRequest() as unmask:
                state, reply = client.unmask(state, unmask)


async def _run(garble: Garble, n: int = 4) -> tuple[Any, RunChannel, SecAggConfig, dict[str, Any]]:
    ctx = SimpleNamespace(sessions=SessionRegistry(), settings=SimpleNamespace(round_timeout_s=5.0))
    channel = RunChannel(cast(ServerContext, ctx), "job_faulty", "buyer")
    ids = [f"factory-{i}" for i in range(n)]
    keys = {u: Ed25519PrivateKey.generate() for u in ids}
    channel.registrations = {u: Registration(i, b"", keys[u].public_key().public_bytes_raw())
                             for i, u in enumerate(ids)}  # fmt: skip
    config = channel.new_config(ids, 2, 64, 6)
    rng = np.random.default_rng(0)
    inputs = {u: rng.integers(0, 2**40, 6, dtype=ring_dtype(64)) for u in config.participants}
    nodes = [
        asyncio.create_task(
            _node(
                ctx,
                channel,
                client.new_client(config, u),
                keys[u],
                inputs[u],
                garble if u == FAULTY else None,
            )
        )
        for u in config.participants
    ]
    try:
        aggregate, contributors = await channel.secure_aggregation(config)
    finally:
        for pid in config.participants:
            ctx.sessions.get(pid).close()  # type: ignore[union-attr]
        await asyncio.gather(*nodes)
        channel.close()
    return (aggregate, contributors), channel, config, inputs


BEFORE_MASKED_INPUT = {
    "empty message for keys": ("advertise_keys", _empty),
    "no body for shares": ("encrypted_shares", _no_body),
    "short masked vector": ("masked_input", _short_vector),
    "share message in the masked-input round": ("masked_input", _wrong_round),
}
AFTER_MASKED_INPUT = {
    "empty message for the consistency round": ("consistency_signature", _empty),
    "empty unmask shares": ("unmask_shares", _empty_shares),
    "empty message for unmasking": ("unmask_shares", _empty),
}


@pytest.mark.parametrize(
    ("garble", "counted"),
    [(g, False) for g in BEFORE_MASKED_INPUT.values()] + [(g, True) for g in AFTER_MASKED_INPUT.values()],
    ids=[*BEFORE_MASKED_INPUT, *AFTER_MASKED_INPUT],
)
def test_garbage_from_one_node_drops_only_that_node(garble: Garble, counted: bool) -> None:
    (aggregate, contributors), channel, config, inputs = asyncio.run(_run(garble))
    included = [u for u in config.participants if counted or u != FAULTY]
    assert channel.survivors == tuple(included) and contributors == len(included)
    np.testing.assert_array_equal(aggregate, sum(inputs[u] for u in included))
    assert list(channel.refusals) == [FAULTY]
    assert channel.refusals[FAULTY].startswith(f"malformed_message: node {FAULTY} ")


def test_a_corrupted_share_is_detected_its_sender_named_and_the_sum_stays_exact() -> None:
    """The share fails the dealer's signed commitment; reconstruction uses the honest shares instead."""
    (aggregate, contributors), channel, config, inputs = asyncio.run(
        _run(("unmask_shares", _corrupted_share))
    )
    assert contributors == len(config.participants)  # the liar's own input still counts
    np.testing.assert_array_equal(aggregate, sum(inputs[u] for u in config.participants))
    assert list(channel.refusals) == [FAULTY]
    assert channel.refusals[FAULTY].startswith("bad_share: ")


def test_garbage_below_threshold_fails_the_run_and_names_the_node() -> None:
    """With two nodes (threshold 2) one faulty node leaves too few: the run fails, saying why."""
    with pytest.raises(RunFailed) as failure:
        asyncio.run(_run(("masked_input", _short_vector), n=2))
    assert failure.value.code == "too_many_dropouts"
    assert f"{FAULTY}: malformed_message" in str(failure.value)
