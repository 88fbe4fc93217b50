"""One factory declaring a malformed schema cannot break a dataset for everyone else.

The attacker is a real, enrolled factory speaking raw gRPC with its own certificate: its Hello is refused on
its own, audited, and the other factories' jobs on the same dataset go on.
"""

from __future__ import annotations

import json
from collections.abc import Iterator

import grpc
import pytest

from coordinator.localspace.harness import LocalSpace, terminate
from node.identity import NodeIdentity
from proto.dataspace.v1 import node_service_pb2 as pb
from proto.dataspace.v1 import node_service_pb2_grpc as pb_grpc

from .conftest import start_space

pytestmark = pytest.mark.e2e
MEAN_TEMP = {"kind": "mean", "dataset": "steel_production", "field": "furnace_temp_c"}
MALFORMED = {
    "not json": "{",
    "not a schema": json.dumps({"name": "steel_production", "fields": "everything"}),
    "bounds inverted": json.dumps(
        {"name": "steel_production", "fields": [{"name": "x", "type": "number", "min": 5, "max": 1}]}
    ),
    "another dataset's name": json.dumps(
        {"name": "other", "fields": [{"name": "x", "type": "number", "min": 0, "max": 1}]}
    ),
}


@pytest.fixture(scope="module")
def space(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalSpace]:
    local = start_space(tmp_path_factory.mktemp("hello"), 4)
    try:
        with local.buyer():  # the contract is made while every factory is online
            pass
        yield local
    finally:
        local.stop()


def _hello_as(identity: NodeIdentity, schema_json: str) -> grpc.RpcError:
    credentials = grpc.ssl_channel_credentials(identity.ca_pem, identity.key_pem, identity.cert_pem)
    hello = pb.Hello(
        agent_version="rogue", datasets=[pb.DatasetInfo(name="steel_production", schema_json=schema_json)]
    )
    with grpc.secure_channel(identity.grpc_target, credentials) as channel:
        stream = pb_grpc.NodeServiceStub(channel).Connect(iter([pb.NodeMessage(hello=hello)]), timeout=20)
        with pytest.raises(grpc.RpcError) as caught:
            for _ in stream:
                pass
    return caught.value


@pytest.mark.parametrize("case", sorted(MALFORMED))
def test_a_malformed_hello_is_refused_alone(space: LocalSpace, case: str) -> None:
    rogue = space.factories[-1]
    terminate(rogue.process)  # the attacker speaks for itself, not through its node
    rogue.process = None
    with space.operator() as operator:
        operator.wait_for_nodes(3)
    error = _hello_as(NodeIdentity.load(rogue.directory), MALFORMED[case])
    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT, error
    assert "hello_refused" in (error.details() or "")
    with space.buyer() as buyer:
        job = buyer.wait(buyer.submit_job(MEAN_TEMP)["id"], timeout=120)
        assert job["state"] == "SUCCEEDED", job["reason"]
        assert job["contributors"] == 3
    with space.operator() as operator:
        refusals = operator.audit_entries(subject=f"participant:{rogue.participant_id}")
    assert any(entry["kind"] == "node.hello_refused" for entry in refusals)
