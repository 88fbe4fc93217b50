"""Buyers' and operators' sessions: HTTPS against the operator CA only, plain HTTP only when asked for.

A buyer's enrollment bootstraps the CA from its token's pin; it runs here against the real gateway in
process, through a transport that can play a man in the middle.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
import typer
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from sqlalchemy import Engine

from contracts.enrollment import EnrollmentReplyError
from contracts.identity import make_participant_id
from coordinator.client.cli_common import client_for
from coordinator.client.enrollment import enroll_buyer
from coordinator.client.gateway import GatewayClient
from coordinator.client.trust import DEFAULT_CA_FILE, InsecureUrlError, MissingCaError
from coordinator.identity import pki
from tests.coordinator.api.conftest import Gateway, open_gateway
from tests.coordinator.audit.test_api import AppTransport

NOW = datetime.now(UTC)
BUYER = make_participant_id("91110000MA01TRUT0")


@pytest.fixture
def gateway(engine: Engine, tmp_path: Path) -> Iterator[Gateway]:
    yield open_gateway(engine, tmp_path / "coordinator")


def test_plain_http_needs_the_insecure_flag() -> None:
    with pytest.raises(InsecureUrlError, match="--insecure-http"):
        GatewayClient("http://gateway.example:8080")
    with pytest.raises(InsecureUrlError):
        GatewayClient("ftp://gateway.example", insecure_http=True)
    GatewayClient("http://gateway.example:8080", insecure_http=True).close()


def test_https_needs_the_operator_ca() -> None:
    with pytest.raises(MissingCaError, match="--ca"):
        GatewayClient("https://gateway.example")
    ca = pki.create_ca("dataspace operator CA", NOW)
    GatewayClient("https://gateway.example", ca_pem=ca.cert_pem).close()


def test_the_cli_finds_the_ca_in_the_flag_the_data_directory_or_the_buyers_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    data_dir = tmp_path / "data"
    data_dir.mkdir()
    with pytest.raises(typer.BadParameter, match="no operator CA"):
        client_for("https://gateway.example", None, data_dir)
    with pytest.raises(typer.BadParameter, match="--insecure-http"):
        client_for("http://gateway.example", None, data_dir)
    client_for("http://gateway.example", None, data_dir, insecure_http=True).close()
    saved = pki.create_ca("buyer's", NOW).cert_pem
    DEFAULT_CA_FILE.write_bytes(saved)
    assert client_for("https://gateway.example", None, data_dir).ca_pem == saved
    operators = pki.load_or_create_ca(data_dir, NOW).cert_pem
    assert client_for("https://gateway.example", None, data_dir).ca_pem == operators
    flag = tmp_path / "flag.crt"
    flag.write_bytes(pki.create_ca("flag", NOW).cert_pem)
    assert client_for("https://gateway.example", None, data_dir, ca=flag).ca_pem == flag.read_bytes()


class Rewriting(httpx.BaseTransport):
    """Into the app, with ``rewrite`` applied to the JSON of one path's responses."""

    def __init__(self, inner: httpx.BaseTransport, path: str, rewrite: Callable[[Any], Any]) -> None:
        self.inner, self.path, self.rewrite = inner, path, rewrite
        self.requests: list[httpx.Request] = []

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        response = self.inner.handle_request(request)
        if request.url.path != self.path:
            return response
        return httpx.Response(response.status_code, json=self.rewrite(response.json()))


def _buyer_token(gateway: Gateway) -> str:
    body = {"participant_id": BUYER, "role": "buyer"}
    return str(gateway.call("operator", "POST", "/api/v1/enrollment-tokens", json=body).json()["token"])


def test_a_buyer_enrolls_from_the_pin_and_keeps_the_ca(gateway: Gateway) -> None:
    key = Ed25519PrivateKey.generate()
    transport = AppTransport(gateway.app)
    enrolled = enroll_buyer("https://testserver", _buyer_token(gateway), key.public_key(), now=NOW,
                            transport=transport)  # fmt: skip
    assert enrolled.ca_pem == gateway.context.keys.ca.cert_pem
    with GatewayClient("https://testserver", enrolled.api_token, ca_pem=enrolled.ca_pem,
                       transport=transport) as buyer:  # fmt: skip
        assert isinstance(buyer.offers(), list)


def test_a_buyer_refuses_a_ca_the_token_does_not_pin(gateway: Gateway) -> None:
    foreign = pki.create_ca("dataspace operator CA", NOW).cert_pem.decode()
    transport = Rewriting(AppTransport(gateway.app), "/api/v1/ca", lambda _: {"ca_certificate_pem": foreign})
    with pytest.raises(EnrollmentReplyError, match="does not match the fingerprint"):
        enroll_buyer("https://testserver", _buyer_token(gateway), None, now=NOW, transport=transport)
    assert [r.url.path for r in transport.requests] == ["/api/v1/ca"]  # the token never left


@pytest.mark.parametrize(
    "rewrite",
    [
        lambda reply: {**reply, "signature": None},
        lambda reply: {**reply, "log_key": reply["log_key"].replace("+", "+0", 1)},
        lambda reply: {**reply, "operator_key": reply["ticket_public_key"]},
    ],
    ids=["unsigned", "log-key-changed", "operator-key-swapped"],
)
def test_a_buyer_refuses_a_tampered_reply(gateway: Gateway, rewrite: Callable[[Any], Any]) -> None:
    transport = Rewriting(AppTransport(gateway.app), "/api/v1/enroll", rewrite)
    key = Ed25519PrivateKey.generate()
    with pytest.raises(EnrollmentReplyError):
        enroll_buyer(
            "https://testserver", _buyer_token(gateway), key.public_key(), now=NOW, transport=transport
        )


class SwappingKey(httpx.BaseTransport):
    """A man in the middle that registers its own contract-signing key in the buyer's enrollment."""

    def __init__(self, inner: httpx.BaseTransport, key: str) -> None:
        self.inner, self.key = inner, key

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        if request.url.path == "/api/v1/enroll":
            body = {**json.loads(request.content), "signing_public_key": self.key}
            request = httpx.Request(request.method, request.url, json=body)
        return self.inner.handle_request(request)


def test_a_buyer_refuses_a_reply_registering_another_signing_key(gateway: Gateway) -> None:
    attacker = base64.b64encode(Ed25519PrivateKey.generate().public_key().public_bytes_raw()).decode()
    transport = SwappingKey(AppTransport(gateway.app), attacker)
    mine = Ed25519PrivateKey.generate().public_key()
    with pytest.raises(EnrollmentReplyError, match="another contract-signing key"):
        enroll_buyer("https://testserver", _buyer_token(gateway), mine, now=NOW, transport=transport)
