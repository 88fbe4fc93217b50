"""The audit routes in process: bounded parameters, listings filtered in SQL, paged remote verification."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import SimpleNamespace

import anyio
import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import Engine
from typer.testing import CliRunner

from contracts.identity import Role
from coordinator.api.deps import Principal, get_principal
from coordinator.api.errors import install_error_handlers
from coordinator.api.routes import audit as routes
from coordinator.audit.remote import verify_fetched
from coordinator.audit.store import MAX_INDEX, AuditLog
from coordinator.client import audit as client_audit
from coordinator.client import cli, cli_audit
from coordinator.client.gateway import GatewayClient
from protocols.tlog.checkpoint import WitnessKey, cosign, parse_checkpoint
from protocols.tlog.exceptions import TamperError
from protocols.tlog.note import NoteSigner, split_note
from tests.coordinator.audit.conftest import ORIGIN

NOW = datetime(2025, 7, 1, tzinfo=UTC)
SIZE = 40


class AppTransport(httpx.BaseTransport):
    """A synchronous transport into the ASGI app, so the real (synchronous) gateway client can use it."""

    def __init__(self, app: FastAPI) -> None:
        self._asgi = httpx.ASGITransport(app=app)

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        async def call() -> httpx.Response:
            response = await self._asgi.handle_async_request(request)
            content = await response.aread()
            return httpx.Response(response.status_code, headers=response.headers, content=content)

        return anyio.run(call)


@dataclass
class Api:
    log: AuditLog
    http: httpx.Client
    principal: Principal

    def get(self, path: str, **params: object) -> httpx.Response:
        return self.http.get(f"/api/v1/audit{path}", params=params)


@pytest.fixture
def api(engine: Engine, signer: NoteSigner) -> Iterator[Api]:
    log = AuditLog(engine, ORIGIN, signer)
    log.checkpoint(NOW)
    for i in range(SIZE):
        subjects = {"job": f"job-{i % 5}", "participant": f"p-{i % 3}"}
        log.append("op", "job.refused" if i % 4 == 0 else "job.started", subjects, {"n": i}, NOW)
        if i % 3 == 2:
            log.checkpoint(NOW + timedelta(seconds=i))
    app = FastAPI()
    install_error_handlers(app)
    app.include_router(routes.router)
    keys = SimpleNamespace(log_signer=signer)
    app.state.context = SimpleNamespace(audit=SimpleNamespace(log=log), keys=keys, clock=lambda: NOW)
    http = httpx.Client(transport=AppTransport(app), base_url="http://testserver")
    state = Api(log, http, Principal("operator", Role.OPERATOR))
    app.dependency_overrides[get_principal] = lambda: state.principal
    with state.http:
        yield state


@pytest.mark.parametrize(
    ("path", "params"),
    [
        ("/entries", {"offset": 2**63}),
        ("/entries", {"offset": 2**70}),
        ("/entries", {"start": 2**63}),
        ("/entries", {"offset": -1}),
        ("/entries", {"limit": 1001}),
        ("/entries", {"kind": "k" * 65}),
        ("/checkpoints", {"start": 2**63}),
        ("/checkpoints", {"limit": 0}),
        ("/proof/inclusion", {"index": 2**63, "size": 1}),
        ("/proof/inclusion", {"index": 0, "size": 2**64}),
        ("/proof/consistency", {"first": 1, "second": 2**63}),
    ],
)
def test_out_of_range_integers_are_422_not_500(api: Api, path: str, params: dict[str, object]) -> None:
    response = api.get(path, **params)
    assert response.status_code == 422, response.text
    assert response.json()["error"]["code"] == "invalid_request"


def test_the_largest_offset_is_an_empty_page(api: Api) -> None:
    response = api.get("/entries", offset=MAX_INDEX, start=MAX_INDEX, limit=1000)
    assert response.status_code == 200, response.text
    assert response.json()["entries"] == []


def test_the_openapi_schema_bounds_every_integer(api: Api) -> None:
    schema = api.http.get("/openapi.json").json()
    for path, item in schema["paths"].items():
        for parameter in item["get"].get("parameters", []):
            if parameter["schema"].get("type") == "integer":
                assert "maximum" in parameter["schema"], (path, parameter["name"])


def test_listing_is_the_stored_entries_with_their_leaf_hashes(api: Api) -> None:
    body = api.get("/entries", offset=3, limit=5).json()
    assert body["size"] == SIZE
    expected = [{**e.to_json(), "leaf_hash": e.leaf_hash()} for e in api.log.entries(3, 5)]
    got = [{**e, "leaf_hash": base64.b64decode(e["leaf_hash"])} for e in body["entries"]]
    assert got == expected


def test_paging_by_start_with_filters(api: Api) -> None:
    """Filters run in SQL and ``start`` continues a filtered listing where the last page ended."""
    seen: list[int] = []
    start = 0
    while True:
        page = api.get("/entries", kind="job.refused", subject="job:job-0", start=start, limit=2).json()
        seen += [e["index"] for e in page["entries"]]
        if len(page["entries"]) < 2:
            break
        start = page["entries"][-1]["index"] + 1
    assert seen == [i for i in range(SIZE) if i % 4 == 0 and i % 5 == 0]


def test_a_participant_reads_only_entries_naming_it(api: Api) -> None:
    api.principal = Principal("p-1", Role.BUYER)
    entries = api.get("/entries", limit=1000).json()["entries"]
    assert [e["index"] for e in entries] == [i for i in range(SIZE) if i % 3 == 1]
    assert api.get("/entries", subject="participant:p-2").status_code == 422


def test_checkpoints_page_by_size(api: Api) -> None:
    everything = api.log.all_checkpoints()
    first = api.get("/checkpoints", limit=4).json()["notes"]
    rest = api.get("/checkpoints", start=10, limit=1000).json()["notes"]
    assert first == everything[:4]
    assert rest == everything[4:]  # sizes 0, 3, 6, 9 came first


def _gateway(api: Api) -> GatewayClient:
    client = GatewayClient("http://testserver", insecure_http=True)
    client.http = api.http
    return client


def test_remote_verification_pages_through_entries_and_checkpoints(
    api: Api, signer: NoteSigner, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(client_audit, "PAGE", 7)
    requests: list[httpx.Request] = []
    api.http.event_hooks["request"].append(requests.append)
    key = signer.verifier().key_string()
    summary = client_audit.verify_remote(_gateway(api), key, [])
    assert summary.startswith(f"{SIZE} entries, {SIZE // 3 + 1} signed checkpoints")
    pages = [r.url.params for r in requests if r.url.path.endswith("/entries")]
    assert [int(p["start"]) for p in pages] == list(range(0, SIZE + 1, 7))
    assert all(p["limit"] == "7" for p in pages)
    assert sum(r.url.path.endswith("/checkpoints") for r in requests) == 2  # 14 checkpoints, pages of 7


def test_remote_verification_catches_a_server_that_ignores_start(
    api: Api, signer: NoteSigner, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(client_audit, "PAGE", 7)
    api.http.event_hooks["request"].append(lambda r: setattr(r, "url", r.url.copy_remove_param("start")))
    with pytest.raises(TamperError) as caught:
        client_audit.verify_remote(_gateway(api), signer.verifier().key_string(), [])
    assert caught.value.index == 7


def test_checkpoints_out_of_order_are_refused(api: Api, signer: NoteSigner) -> None:
    notes = api.log.all_checkpoints()
    entries = [json.loads(json.dumps(e.to_json())) for e in api.log.entries(0, SIZE)]
    with pytest.raises(TamperError):
        verify_fetched(entries, [notes[2], notes[1]], signer.verifier())
    assert verify_fetched(iter(entries), iter(notes), signer.verifier()).size == SIZE


# -- `dataspace audit verify --url`: trust anchors the audited server does not choose ------------------
W1 = WitnessKey("p-1.witness", bytes(range(1, 33)))
W2 = WitnessKey("p-2.witness", bytes(range(2, 34)))


def _cli_verify(
    api: Api, monkeypatch: pytest.MonkeyPatch, *args: str
) -> tuple[int, str, list[httpx.Request]]:
    """Exit code, stdout and stderr without whitespace, and the requests sent to the gateway."""
    requests: list[httpx.Request] = []

    def gateway(*_: object, **__: object) -> GatewayClient:  # a fresh connection each run
        client = GatewayClient("http://testserver", insecure_http=True)
        client.http = httpx.Client(
            transport=api.http._transport,
            base_url="http://testserver",
            event_hooks={"request": [requests.append]},
        )
        return client

    monkeypatch.setattr(cli_audit, "client_for", gateway)
    result = CliRunner().invoke(cli.app, ["audit", "verify", "--url", "http://testserver", *args])
    return result.exit_code, "".join((result.stdout + result.stderr).split()), requests


def test_remote_verify_without_a_pinned_key_refuses_and_asks_the_server_nothing(
    api: Api, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Attack: the server would offer its own key; the verifier must not ask for it."""
    code, out, requests = _cli_verify(api, monkeypatch, "--data-dir", str(tmp_path))
    assert code == 2, out
    assert "--log-keyKEYor--node-dir" in out
    assert requests == []


def test_remote_verify_with_the_key_a_node_pinned(
    api: Api, signer: NoteSigner, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    node = tmp_path / "node"
    (node / "identity").mkdir(parents=True)
    info = {"log_key": signer.verifier().key_string()}
    (node / "identity" / "coordinator.json").write_text(json.dumps(info))
    code, out, _ = _cli_verify(api, monkeypatch, "--node-dir", str(node), "--data-dir", str(tmp_path))
    assert code == 0, out
    assert f"{SIZE}entries" in out and "pinnedbythenode" in out
    impostor = NoteSigner(ORIGIN, bytes(32)).verifier().key_string()
    info["log_key"] = impostor  # the node pinned another log: this server's checkpoints are not that log's
    (node / "identity" / "coordinator.json").write_text(json.dumps(info))
    code, out, _ = _cli_verify(api, monkeypatch, "--node-dir", str(node), "--data-dir", str(tmp_path))
    assert code == 1, out


def test_remote_verify_demands_the_witness_cosignatures_asked_for(
    api: Api, signer: NoteSigner, monkeypatch: pytest.MonkeyPatch
) -> None:
    newest = api.log.latest_checkpoint()
    assert newest is not None
    size, body = parse_checkpoint(split_note(newest)[0]).size, split_note(newest)[0]
    api.log.add_cosignature(size, cosign(body, W1, NOW), W1.verifier())
    pinned = ("--log-key", signer.verifier().key_string())
    witnesses = ("--witness", W1.verifier().key_string(), "--witness", W2.verifier().key_string())
    code, out, _ = _cli_verify(api, monkeypatch, *pinned, *witnesses)
    assert code == 1, out
    assert "notcosignedby:p-2.witness" in out
    code, out, _ = _cli_verify(api, monkeypatch, *pinned, *witnesses, "--min-cosignatures", "1")
    assert code == 0, out
    assert "newestcosignedbyp-1.witness" in out
    code, out, _ = _cli_verify(api, monkeypatch, *pinned, *witnesses, "--min-cosignatures", "3")
    assert code == 2, out


def test_witness_demands_without_url_are_refused(tmp_path: Path) -> None:
    key = W1.verifier().key_string()
    result = CliRunner().invoke(cli.app, ["audit", "verify", "--data-dir", str(tmp_path), "--witness", key])
    assert result.exit_code == 2
    assert "gowith--url" in "".join(result.stderr.split())
