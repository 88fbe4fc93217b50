"""A buyer, a stranger and an anonymous client crafting requests against the real gateway, in process.

Every test plays one attacker of the issue "one float kills every node and poisons the log": numbers outside
canonical JSON, ids no log label can hold, oversized bodies, result polling, moves on others' contracts.
Each checks the promise that matters: a 4xx (never a 5xx), an audit entry for every refused action, and a
log that still reads back and verifies.
"""

from __future__ import annotations

import hashlib
import http.client
import json
import socket
import threading
import time
from typing import Any

import anyio
import pytest
import uvicorn

from coordinator.audit.verify import verify_store
from coordinator.context import utc_now
from tests.coordinator.api.conftest import BUYER, MEAN_TEMP, STRANGER, Gateway, open_gateway

JOBS = "/api/v1/jobs"


def _submit(gateway: Gateway, who: str, body: dict[str, Any] | str) -> Any:
    content = body if isinstance(body, str) else json.dumps(body)
    return gateway.call(who, "POST", JOBS, content=content, headers={"Content-Type": "application/json"})


def _job(gateway: Gateway, **extra: Any) -> dict[str, Any]:
    return {**MEAN_TEMP, "contract_id": gateway.contract_id, **extra}


def _assert_log_reads_back(gateway: Gateway) -> None:
    """Every entry decodes through the gateway, and the whole store verifies against the log key."""
    entries = gateway.call("operator", "GET", "/api/v1/audit/entries", params={"limit": 1000})
    assert entries.status_code == 200, entries.text
    gateway.context.audit.log.checkpoint(utc_now())
    report = verify_store(gateway.context.store.engine, gateway.context.keys.log_signer.verifier())
    assert report.size == gateway.context.audit.log.size()


def _error_locs(response: Any) -> list[list[Any]]:
    return [e["loc"] for e in response.json()["error"]["details"]["errors"]]


# ------------------------------------------------------------------------------ numbers outside the domain


@pytest.mark.parametrize("value", [1e16, -1e16, 2.0**53, 1e20, 123456789012345678901234567890])
def test_a_filter_number_beyond_two_to_the_53_is_refused_at_the_edge(gateway: Gateway, value: float) -> None:
    """1e16 prints as 10000000000000000, which no canonical reader accepts back: refused, never logged."""
    filters = [{"field": "temp", "op": "lt", "value": value}]
    response = _submit(gateway, "buyer", _job(gateway, filters=filters))
    assert response.status_code == 422, response.text
    assert any(loc[:4] == ["body", "filters", 0, "value"] for loc in _error_locs(response))
    assert not gateway.entries("job.submitted")
    refused = gateway.entries("job.refused")
    assert len(refused) == 1 and refused[0]["subjects"]["participant"] == BUYER
    _assert_log_reads_back(gateway)


def test_a_buyer_without_a_contract_cannot_poison_the_log_through_a_refusal(gateway: Gateway) -> None:
    body = {
        **MEAN_TEMP,
        "contract_id": "ctr_unknown",
        "filters": [{"field": "temp", "op": "lt", "value": 1e16}],
    }
    response = _submit(gateway, "stranger", body)
    assert response.status_code == 422, response.text
    assert gateway.entries("job.refused")[-1]["subjects"]["participant"] == STRANGER
    _assert_log_reads_back(gateway)


NON_FINITE = ["NaN", "Infinity", "-Infinity", "1e999"]


@pytest.mark.parametrize("literal", NON_FINITE)
@pytest.mark.parametrize(
    ("template", "loc"),
    [
        ('{"field": "temp", "op": "lt", "value": %s}', ["body", "filters", 0, "value"]),
        ('{"field": "temp", "op": "between", "value": [1400, %s]}', ["body", "filters", 0, "value"]),
        ("BINS", ["body", "bins", 1]),
        ("EPSILON", ["body", "epsilon"]),
    ],
    ids=["filter", "between", "bins", "epsilon"],
)
def test_nan_and_infinity_are_refused_with_the_field(
    gateway: Gateway, literal: str, template: str, loc: list[Any]
) -> None:
    contract = json.dumps(gateway.contract_id)
    if template == "BINS":
        body = (
            f'{{"kind": "histogram", "dataset": "plant", "field": "temp", "bins": [1400, {literal}, 1800], '
        )
        body += f'"contract_id": {contract}}}'
    elif template == "EPSILON":
        body = f'{{"kind": "mean", "dataset": "plant", "field": "temp", "epsilon": {literal}, '
        body += f'"contract_id": {contract}}}'
    else:
        body = f'{{"kind": "mean", "dataset": "plant", "field": "temp", "contract_id": {contract}, '
        body += f'"filters": [{template % literal}]}}'
    response = _submit(gateway, "buyer", body)
    assert response.status_code == 422, response.text
    assert any(error_loc[: len(loc)] == loc for error_loc in _error_locs(response)), response.text
    (refused,) = gateway.entries("job.refused")
    assert refused["payload"]["request"] == {
        "sha256": hashlib.sha256(body.encode()).hexdigest(),
        "bytes": len(body.encode()),
    }
    _assert_log_reads_back(gateway)


def test_a_personal_field_with_a_nan_added_is_refused_and_audited_like_without(gateway: Gateway) -> None:
    personal = _job(gateway, field="operator_name")
    plain = _submit(gateway, "buyer", personal)
    assert plain.status_code == 403, plain.text
    body = json.dumps(personal)[:-1] + ', "filters": [{"field": "temp", "op": "lt", "value": NaN}]}'
    poisoned = _submit(gateway, "buyer", body)
    assert 400 <= poisoned.status_code < 500, poisoned.text
    refused = gateway.entries("job.refused")
    assert len(refused) == 2
    assert all(e["subjects"] == {"participant": BUYER, "contract": gateway.contract_id} for e in refused)
    _assert_log_reads_back(gateway)


# ------------------------------------------------------------------------------------- ids and strings


BAD_IDS = {"nul": "ctr_\x00x", "lone_surrogate": "ctr_\ud800", "300_chars": "c" * 300, "newline": "ctr\n1"}


@pytest.mark.parametrize("contract_id", BAD_IDS.values(), ids=BAD_IDS.keys())
def test_a_malformed_contract_id_in_a_job_is_refused_and_audited(gateway: Gateway, contract_id: str) -> None:
    response = _submit(gateway, "buyer", {**MEAN_TEMP, "contract_id": contract_id})
    assert response.status_code == 422, response.text
    assert ["body", "contract_id"] in _error_locs(response)
    (refused,) = gateway.entries("job.refused")
    assert refused["subjects"] == {"participant": BUYER}  # an id no label can hold is not a subject
    _assert_log_reads_back(gateway)


PATH_IDS = {
    "nul": "ctr_%00x",
    "300_chars": "c" * 300,
    "lone_surrogate_utf8": "ctr_%ED%A0%80",
    "space": "ctr%20x",
}


@pytest.mark.parametrize("move", ["agree", "terminate", "revoke"])
@pytest.mark.parametrize("contract_id", PATH_IDS.values(), ids=PATH_IDS.keys())
def test_a_malformed_contract_id_in_a_path_is_a_4xx_and_audited(
    gateway: Gateway, contract_id: str, move: str
) -> None:
    response = gateway.call("buyer", "POST", f"/api/v1/contracts/{contract_id}/{move}")
    assert response.status_code in (404, 422), response.text
    (refused,) = gateway.entries("request.refused")
    assert refused["subjects"] == {"participant": BUYER}
    assert refused["payload"]["status"] == response.status_code
    read = gateway.call("buyer", "GET", f"/api/v1/contracts/{contract_id}")
    assert read.status_code in (404, 422), read.text
    _assert_log_reads_back(gateway)


@pytest.mark.parametrize("job_id", ["job_%00", "j" * 300, "job_%ED%A0%80"])
def test_a_malformed_job_id_is_a_4xx(gateway: Gateway, job_id: str) -> None:
    for path in (f"{JOBS}/{job_id}", f"{JOBS}/{job_id}/result"):
        response = gateway.call("buyer", "GET", path)
        assert response.status_code in (404, 422), response.text


def test_strings_with_control_characters_are_refused(gateway: Gateway) -> None:
    cases = [
        _job(gateway, purpose="research\x00"),
        _job(gateway, field="te\u0007mp"),
        _job(gateway, filters=[{"field": "shift", "op": "eq", "value": "A\x00"}]),
        _job(gateway, filters=[{"field": "shift", "op": "eq", "value": "\ud800"}]),
        _job(gateway, filters=[{"field": "shift", "op": "eq", "value": "A" * 5000}]),
    ]
    for body in cases:
        response = _submit(gateway, "buyer", body)
        assert response.status_code == 422, (body, response.text)
    assert len(gateway.entries("job.refused")) == len(cases)
    _assert_log_reads_back(gateway)


def test_a_lone_surrogate_as_an_object_key_is_a_422_not_a_500(gateway: Gateway) -> None:
    response = _submit(gateway, "buyer", '{"kind": "mean", "\\ud800": 1}')
    assert response.status_code == 422, response.text
    response.json()  # the error body itself is valid JSON


# ---------------------------------------------------------------------------------------- list sizes


@pytest.mark.parametrize(
    ("extra", "loc"),
    [
        ({"filters": [{"field": "shift", "op": "in", "value": ["A"] * 1001}]}, ["body", "filters", 0]),
        ({"filters": [{"field": "shift", "op": "eq", "value": "A"}] * 33}, ["body", "filters"]),
        ({"kind": "histogram", "bins": [1400.0 + i * 0.1 for i in range(1002)]}, ["body", "bins"]),
        ({"kind": "linear_regression", "field": None, "features": ["temp"] * 17, "target": "energy"},
         ["body", "features"]),
    ],
    ids=["in", "filters", "bins", "features"],
)  # fmt: skip
def test_lists_beyond_their_caps_are_refused(gateway: Gateway, extra: dict[str, Any], loc: list[Any]) -> None:
    body = {k: v for k, v in _job(gateway, **extra).items() if v is not None}
    response = _submit(gateway, "buyer", body)
    assert response.status_code == 422, response.text
    assert any(error_loc[: len(loc)] == loc for error_loc in _error_locs(response)), response.text


def test_the_caps_are_in_the_openapi_schema(gateway: Gateway) -> None:
    schema = gateway.client.get("/openapi.json").json()
    text = json.dumps(schema)
    submission = schema["components"]["schemas"]["JobSubmission"]["properties"]
    assert submission["filters"]["maxItems"] == 32
    assert "maxItems" in json.dumps(submission["bins"]) and "maxItems" in json.dumps(submission["features"])
    assert '"maxItems": 1000' in text  # the values of an 'in' filter
    assert submission["contract_id"]["maxLength"] <= 255


def test_a_refused_job_is_logged_as_a_bounded_summary_not_its_spec(gateway: Gateway) -> None:
    """A 1000-value 'in' list refused for the contract: the entry holds the request's digest, not the list."""
    values = ["A" * 200] * 1000
    body = json.dumps(
        _job(gateway, field="operator_name", filters=[{"field": "shift", "op": "in", "value": values}])
    )
    response = _submit(gateway, "buyer", body)
    assert 400 <= response.status_code < 500, response.text
    (refused,) = gateway.entries("job.refused")
    size = len(json.dumps(refused))
    assert size < 4096, size
    assert refused["payload"]["request"] == {
        "sha256": hashlib.sha256(body.encode()).hexdigest(),
        "bytes": len(body),
    }


# ------------------------------------------------------------------------------------------ body size


def test_a_two_megabyte_body_is_a_413(gateway: Gateway) -> None:
    response = _submit(gateway, "buyer", '{"kind": "' + "x" * 2_000_000 + '"}')
    assert response.status_code == 413, response.text
    assert response.json()["error"]["code"] == "request_too_large"


async def _asgi_post(gateway: Gateway, chunks: int, *, declared: bool) -> tuple[int, int]:
    """POST ``chunks`` chunks of 64 KiB straight into the ASGI app; return (status, chunks it pulled)."""
    chunk = b"x" * 65536
    pulled = 0
    status = 0
    headers = [(b"content-type", b"application/json"), (b"host", b"testserver")]
    headers += [(b"authorization", f"Bearer {gateway.tokens['buyer']}".encode())]
    if declared:
        headers.append((b"content-length", str(chunks * len(chunk)).encode()))
    scope = {
        "type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "POST",
        "scheme": "http", "path": JOBS, "raw_path": JOBS.encode(), "query_string": b"", "root_path": "",
        "headers": headers, "client": ("127.0.0.1", 1), "server": ("testserver", 80),
    }  # fmt: skip

    async def receive() -> dict[str, Any]:
        nonlocal pulled
        pulled += 1
        return {"type": "http.request", "body": chunk, "more_body": pulled < chunks}

    async def send(message: dict[str, Any]) -> None:
        nonlocal status
        if message["type"] == "http.response.start":
            status = message["status"]

    await gateway.app(scope, receive, send)
    return status, pulled


@pytest.mark.parametrize("declared", [True, False], ids=["content_length", "chunked"])
def test_a_two_megabyte_body_is_refused_before_it_is_read(gateway: Gateway, declared: bool) -> None:
    status, pulled = anyio.run(lambda: _asgi_post(gateway, 32, declared=declared))
    assert status == 413
    limit_chunks = gateway.context.settings.max_request_bytes // 65536 + 1
    assert pulled <= (0 if declared else limit_chunks), pulled
    _assert_log_reads_back(gateway)


def test_the_body_limit_is_a_setting(engine: Any, tmp_path: Any) -> None:
    small = open_gateway(engine, tmp_path, max_request_bytes=2048)
    body = _job(small, filters=[{"field": "shift", "op": "in", "value": ["A"] * 600}])
    assert _submit(small, "buyer", body).status_code == 413
    assert _submit(small, "buyer", _job(small)).status_code == 202


# --------------------------------------------------------------------------------- result reads, once


def test_a_result_polled_twenty_times_is_logged_once_per_reader(gateway: Gateway) -> None:
    submitted = _submit(gateway, "buyer", _job(gateway))
    assert submitted.status_code == 202, submitted.text
    job_id = submitted.json()["id"]
    early = gateway.call("buyer", "GET", f"{JOBS}/{job_id}/result")
    assert early.status_code == 409
    gateway.finish(job_id, {"mean": 1600.0})
    for _ in range(20):
        assert gateway.call("buyer", "GET", f"{JOBS}/{job_id}/result").status_code == 200
    released = gateway.entries("result.released")
    assert [e["payload"]["to"] for e in released] == [BUYER]
    for _ in range(3):
        assert gateway.call("operator", "GET", f"{JOBS}/{job_id}/result").status_code == 200
    released = gateway.entries("result.released")
    assert [e["payload"]["to"] for e in released] == [BUYER, "operator"]
    assert all(e["subjects"] == {"job": job_id, "participant": BUYER} for e in released)


# ------------------------------------------------------------------------------------ others' contracts


@pytest.mark.parametrize("move", ["agree", "terminate", "revoke", "signature"])
def test_a_non_party_move_on_a_contract_is_a_404_like_a_read(gateway: Gateway, move: str) -> None:
    path = f"/api/v1/contracts/{gateway.contract_id}"
    read = gateway.call("stranger", "GET", path)
    assert read.status_code == 404
    signature = {"party": STRANGER, "key_id": "0" * 16, "signature": "AAAA"}
    body = {"json": signature} if move == "signature" else {}
    moved = gateway.call("stranger", "POST", f"{path}/{move}", **body)
    assert moved.status_code == 404, moved.text
    assert moved.json() == read.json()  # no state, no oracle
    (refused,) = gateway.entries("request.refused")
    assert refused["subjects"] == {"participant": STRANGER, "contract": gateway.contract_id}
    mine = gateway.call("buyer", "GET", path).json()
    assert mine["negotiation"]["stage"] == "FINALIZED"


def test_a_factory_cannot_move_another_factorys_contract_either(gateway: Gateway) -> None:
    for move in ("terminate", "revoke"):
        response = gateway.call("factory", "POST", f"/api/v1/contracts/ctr_{'0' * 32}/{move}")
        assert response.status_code == 404


# -------------------------------------------------------------------------------- errors inside the app


def test_an_unexpected_error_is_a_json_500_that_does_not_escape(
    gateway: Gateway, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(**_kwargs: Any) -> Any:
        raise RuntimeError("the database went away")

    monkeypatch.setattr(gateway.context.store, "jobs", broken)
    response = gateway.call("buyer", "GET", JOBS)  # TestClient would re-raise an escaping exception
    assert response.status_code == 500
    assert response.json()["error"]["code"] == "internal_error"
    assert "database" not in response.text


def test_after_a_500_the_next_request_on_the_same_connection_is_answered(
    gateway: Gateway, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Through a real uvicorn: an error that escaped the app made uvicorn close the keep-alive connection."""

    def broken(**_kwargs: Any) -> Any:
        raise RuntimeError("the database went away")

    monkeypatch.setattr(gateway.context.store, "jobs", broken)
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    server = uvicorn.Server(uvicorn.Config(gateway.app, log_level="critical", lifespan="off"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    try:
        while not server.started:
            threading.Event().wait(0.01)
        connection = http.client.HTTPConnection(*sock.getsockname(), timeout=10)
        auth = gateway.auth("buyer")
        connection.request("GET", JOBS, headers=auth)
        failed = connection.getresponse()
        assert (failed.status, json.loads(failed.read())["error"]["code"]) == (500, "internal_error")
        first_socket = connection.sock
        for path in ("/healthz", f"/api/v1/contracts/{gateway.contract_id}"):
            connection.request("GET", path, headers=auth)
            answered = connection.getresponse()
            assert answered.status == 200, answered.read()
            answered.read()
        assert connection.sock is first_socket  # the same connection, never reset
        connection.close()
    finally:
        server.should_exit = True
        thread.join(10)


def test_a_body_that_trickles_in_is_refused_after_the_read_deadline(engine: Any, tmp_path: Any) -> None:
    slow = open_gateway(engine, tmp_path, request_read_timeout_s=0.3)
    headers = [
        (b"content-type", b"application/json"),
        (b"authorization", f"Bearer {slow.tokens['buyer']}".encode()),
    ]
    scope = {
        "type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "POST", "scheme": "http",
        "path": JOBS, "raw_path": JOBS.encode(), "query_string": b"", "root_path": "", "headers": headers,
        "client": ("127.0.0.1", 1), "server": ("testserver", 80),
    }  # fmt: skip
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        await anyio.sleep(0.1)  # one byte every 100 ms, for ever
        return {"type": "http.request", "body": b" ", "more_body": True}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    started = time.monotonic()
    anyio.run(slow.app, scope, receive, send)
    assert sent[0]["status"] == 408
    assert time.monotonic() - started < 5
    (refused,) = slow.entries("job.refused")
    assert refused["payload"]["status"] == 408
