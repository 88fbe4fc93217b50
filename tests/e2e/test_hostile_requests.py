"""Hostile requests against a real coordinator process and real nodes, over real sockets.

The float that killed every node and poisoned the log (1e16 in a filter) is refused at the gateway with
a 422 naming the field; the nodes live on, the next job runs, and the log verifies. Oversized bodies are
refused before they are read, errors leave the connection usable, results are logged once per reader,
and a stranger's move on a contract is the same 404 as its read.
"""

from __future__ import annotations

import http.client
import json
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from coordinator.client.gateway import GatewayClient, GatewayError
from coordinator.localspace.harness import LocalSpace, factory_id

from .conftest import start_space

pytestmark = pytest.mark.e2e
MEAN_TEMP = {"kind": "mean", "dataset": "steel_production", "field": "furnace_temp_c"}


@pytest.fixture(scope="module")
def space(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalSpace]:
    local = start_space(tmp_path_factory.mktemp("hostile"), 3)
    try:
        yield local
    finally:
        local.stop()


@pytest.fixture(scope="module")
def buyer(space: LocalSpace) -> Iterator[GatewayClient]:
    with space.buyer() as client:
        yield client


def _address(space: LocalSpace) -> tuple[str, int]:
    parts = urlsplit(space.http_url)
    assert parts.hostname is not None and parts.port is not None
    return parts.hostname, parts.port


def _connect(space: LocalSpace) -> socket.socket:
    """A raw connection to the gateway: TLS, verified against the operator CA, as every client's is."""
    host, port = _address(space)
    return space.tls_context().wrap_socket(
        socket.create_connection((host, port), timeout=10), server_hostname=host
    )


def _verify(space: LocalSpace) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "coordinator", "audit", "verify", "--data-dir", str(space.coordinator_dir)],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    with space.operator() as operator:
        assert operator.audit_entries()  # GET /api/v1/audit/entries reads every entry back


@pytest.mark.parametrize("value", [1e16, float("nan")], ids=["1e16", "nan"])
def test_the_float_that_killed_every_node_is_refused_at_the_gateway(
    space: LocalSpace, buyer: GatewayClient, value: float
) -> None:
    spec = {**MEAN_TEMP, "contract_id": buyer.contract_id,
            "filters": [{"field": "furnace_temp_c", "op": "lt", "value": value}]}  # fmt: skip
    refused = buyer.http.post(
        "/api/v1/jobs", content=json.dumps(spec), headers={"Content-Type": "application/json"}
    )
    assert refused.status_code == 422, refused.text
    locs = [error["loc"] for error in refused.json()["error"]["details"]["errors"]]
    assert any(loc[:4] == ["body", "filters", 0, "value"] for loc in locs), locs
    _verify(space)
    job = buyer.wait(buyer.submit_job(MEAN_TEMP)["id"])  # the nodes are alive and well
    assert job["state"] == "SUCCEEDED", job
    assert all(f.process is not None and f.process.poll() is None for f in space.factories)


def test_a_declared_two_megabyte_body_is_refused_before_it_is_sent(
    space: LocalSpace, buyer: GatewayClient
) -> None:
    with _connect(space) as sock:
        head = (
            "POST /api/v1/jobs HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            f"Authorization: Bearer {buyer.token}\r\nContent-Length: 2000000\r\n\r\n"
        )
        sock.sendall(head.encode() + b"{" + b" " * 65536)  # 64 KiB of the promised 2 MB, then nothing
        response = _read_response(sock)
    assert response.startswith(b"HTTP/1.1 413"), response[:200]
    assert b"request_too_large" in response


def _read_response(sock: socket.socket) -> bytes:
    """Bytes until the server closes or sends a whole response with a Content-Length."""
    data = b""
    while b"\r\n\r\n" not in data or len(data.partition(b"\r\n\r\n")[2]) < _content_length(data):
        chunk = sock.recv(65536)
        if not chunk:
            break
        data += chunk
    return data


def _content_length(data: bytes) -> int:
    for line in data.partition(b"\r\n\r\n")[0].split(b"\r\n"):
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            return int(value)
    return 0


def test_a_chunked_body_is_cut_off_at_the_limit(space: LocalSpace, buyer: GatewayClient) -> None:
    chunk = b"x" * 65536
    sent = 0
    with _connect(space) as sock:
        head = (
            "POST /api/v1/jobs HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            f"Authorization: Bearer {buyer.token}\r\nTransfer-Encoding: chunked\r\n\r\n"
        )
        sock.sendall(head.encode())
        sock.settimeout(0.05)
        response = b""
        while sent < 8_000_000 and not response:
            try:
                sock.sendall(f"{len(chunk):x}\r\n".encode() + chunk + b"\r\n")
                sent += len(chunk)
                response = sock.recv(65536)
            except TimeoutError:
                continue
            except OSError:  # the server closed the connection after answering
                break
        sock.settimeout(10)
        response = response or sock.recv(65536)
    assert response.startswith(b"HTTP/1.1 413"), response[:200]
    assert sent < 4_000_000, sent  # answered soon after the 1 MiB limit, not after the whole upload


def test_refusals_and_errors_leave_the_connection_usable(space: LocalSpace, buyer: GatewayClient) -> None:
    connection = http.client.HTTPSConnection(*_address(space), timeout=10, context=space.tls_context())
    headers = {"Authorization": f"Bearer {buyer.token}", "Content-Type": "application/json"}
    bodies = [
        '{"kind": "mean", "dataset": "steel_production", "filters": [{"field": "x", "value": NaN}]}',
        json.dumps({**MEAN_TEMP, "contract_id": "ctr_\x00"}),
        '{"kind": "mean", "\\ud800": 1}',
        "not json",
    ]
    for body in bodies:
        connection.request("POST", "/api/v1/jobs", body=body, headers=headers)
        refused = connection.getresponse()
        assert refused.status == 422, refused.read()
        json.loads(refused.read())
    connection.request("GET", f"/api/v1/contracts/{buyer.contract_id}", headers=headers)
    answered = connection.getresponse()
    assert answered.status == 200
    answered.read()
    connection.close()


def test_a_result_polled_twenty_times_is_logged_once(space: LocalSpace, buyer: GatewayClient) -> None:
    job = buyer.wait(buyer.submit_job(MEAN_TEMP)["id"])
    assert job["state"] == "SUCCEEDED", job
    for _ in range(20):
        buyer.result(job["id"])
    with space.operator() as operator:
        operator.result(job["id"])
        released = operator.audit_entries(subject=f"job:{job['id']}", kind="result.released")
    assert sorted(e["payload"]["to"] for e in released) == sorted([buyer.participant_id, "operator"])


def test_a_strangers_move_on_a_contract_is_the_same_404_as_its_read(
    space: LocalSpace, buyer: GatewayClient
) -> None:
    assert buyer.contract_id is not None
    with space.enroll_buyer(factory_id(70)) as stranger:
        with pytest.raises(GatewayError) as read:
            stranger.contract(buyer.contract_id)
        for move in ("terminate", "revoke", "agree"):
            with pytest.raises(GatewayError) as moved:
                stranger.contract_move(buyer.contract_id, move)
            assert (moved.value.status, moved.value.code) == (read.value.status, read.value.code) == (
                404, "contract_not_found"
            )  # fmt: skip
        mine = stranger.audit_entries(kind="request.refused")
    assert len(mine) == 3 and all(e["subjects"]["contract"] == buyer.contract_id for e in mine)
    assert buyer.contract(buyer.contract_id)["negotiation"]["stage"] == "FINALIZED"
    _verify(space)


def test_an_unauthenticated_flood_of_large_bodies_does_not_grow_the_coordinator(space: LocalSpace) -> None:
    """Eight 50 MB bodies at once used to take the coordinator from 146 to 748 MB; now each stops at 1 MiB."""
    rss_before = _rss_kib(space)
    sockets: list[socket.socket] = []
    try:
        for _ in range(8):
            sock = _connect(space)
            sock.sendall(b"POST /api/v1/enroll HTTP/1.1\r\nHost: x\r\nContent-Length: 50000000\r\n\r\n")
            sockets.append(sock)
        for sock in sockets:
            assert _read_response(sock).startswith(b"HTTP/1.1 413")
    finally:
        for sock in sockets:
            sock.close()
    time.sleep(0.2)
    assert _rss_kib(space) - rss_before < 64 * 1024


def _rss_kib(space: LocalSpace) -> int:
    assert space.coordinator is not None
    status = Path(f"/proc/{space.coordinator.pid}/status").read_text()
    return int(next(line.split()[1] for line in status.splitlines() if line.startswith("VmRSS:")))
