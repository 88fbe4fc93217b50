"""Enrollment and the gateway over the wire: a real coordinator process speaking HTTPS, real CLIs.

The gateway speaks TLS only, with a certificate the operator CA issued; a participant trusts that CA only
because its token pins it, so a man in the middle (with its own CA, or even serving the genuine CA) never
sees a token. Plain HTTP exists only when both ends ask for it. Replies that lie are refused in
tests/node/test_enrollment.py and tests/coordinator/client/test_trust.py.
"""

from __future__ import annotations

import base64
import http.server
import json
import socket
import ssl
import subprocess
import sys
import threading
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import ClassVar
from urllib.parse import urlsplit

import httpx
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from contracts.enrollment import EnrollmentToken
from coordinator.client.trust import trusting
from coordinator.identity import pki
from coordinator.identity.keys import load_log_signer
from coordinator.localspace.harness import LocalSpace, factory_id

pytestmark = pytest.mark.e2e
NOW = datetime.now(UTC)


@pytest.fixture(scope="module")
def space(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalSpace]:
    """A coordinator alone: enrollment needs no node running."""
    local = LocalSpace(tmp_path_factory.mktemp("tls"))
    local.start_coordinator()
    try:
        yield local
    finally:
        local.stop()


def _run(module: str, *args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", module, *args], capture_output=True, text=True, check=False,
                          cwd=cwd, timeout=120)  # fmt: skip


def _node_dir(tmp_path: Path, index: int) -> Path:
    directory = tmp_path / f"node-{index}"
    initialised = _run("node", "init", str(directory), "--participant-id", factory_id(index), "--force")
    assert initialised.returncode == 0, initialised.stderr
    return directory


def _enroll(node_dir: Path, url: str, token: str, *flags: str) -> subprocess.CompletedProcess[str]:
    return _run("node", "enroll", "--dir", str(node_dir), "--coordinator", url, "--token", token, *flags)


def _token(space: LocalSpace, index: int, role: str = "factory") -> str:
    with space.operator() as operator:
        return operator.create_enrollment_token(factory_id(index), role)


def _address(url: str) -> tuple[str, int]:
    parts = urlsplit(url)
    assert parts.hostname is not None and parts.port is not None
    return parts.hostname, parts.port


def test_the_gateway_speaks_tls_with_a_certificate_of_the_operator_ca(space: LocalSpace) -> None:
    endpoints = json.loads((space.coordinator_dir / "endpoints.json").read_text())
    assert endpoints["http_url"] == space.http_url and space.http_url.startswith("https://127.0.0.1:")
    assert httpx.get(f"{space.http_url}/healthz", verify=space.tls_context()).status_code == 200
    with pytest.raises(httpx.HTTPError):  # plain HTTP to the same port gets no answer
        httpx.get(space.http_url.replace("https://", "http://") + "/healthz")
    with socket.create_connection(_address(space.http_url), timeout=10) as sock:
        sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        assert not sock.recv(1024).startswith(b"HTTP/")
    other_ca = pki.create_ca("dataspace operator CA", NOW)
    with pytest.raises(httpx.ConnectError, match="CERTIFICATE_VERIFY_FAILED"):
        httpx.get(f"{space.http_url}/healthz", verify=trusting(other_ca.cert_pem))
    with pytest.raises(httpx.ConnectError, match="CERTIFICATE_VERIFY_FAILED"):  # nor any public root's
        httpx.get(f"{space.http_url}/healthz")
    served = ssl.get_server_certificate(_address(space.http_url)).encode()
    x509.load_pem_x509_certificate(served).verify_directly_issued_by(pki.load_ca(space.coordinator_dir).cert)


def test_a_node_enrolls_over_https_and_pins_the_signed_grant(space: LocalSpace, tmp_path: Path) -> None:
    node_dir = _node_dir(tmp_path, 1)
    enrolled = _enroll(node_dir, space.http_url, _token(space, 1))
    assert enrolled.returncode == 0, enrolled.stderr
    identity, data_dir = node_dir / "identity", space.coordinator_dir  # the operator's files, only read
    pinned = json.loads((identity / "coordinator.json").read_text())
    operator_key = Ed25519PrivateKey.from_private_bytes((data_dir / "operator.key").read_bytes()).public_key()
    assert pinned["operator_key"] == base64.b64encode(operator_key.public_bytes_raw()).decode()
    assert pinned["log_key"] == load_log_signer(data_dir, pki.load_ca(data_dir)).verifier().key_string()
    assert (identity / "ca.crt").read_bytes() == (data_dir / "ca.crt").read_bytes()
    assert (identity / "operator.crt").read_bytes() == (data_dir / "operator.crt").read_bytes()


def test_a_wrong_pin_is_refused_and_spends_no_token(space: LocalSpace, tmp_path: Path) -> None:
    node_dir = _node_dir(tmp_path, 2)
    token = EnrollmentToken.parse(_token(space, 2))
    wrong = EnrollmentToken(token.token_id, token.secret, pki.create_ca("x", NOW).fingerprint[:32])
    refused = _enroll(node_dir, space.http_url, str(wrong))
    assert refused.returncode == 2
    assert "does not match the fingerprint pinned in the token" in refused.stderr
    assert sorted(p.name for p in node_dir.iterdir()) == ["node.toml"]
    assert _enroll(node_dir, space.http_url, str(token)).returncode == 0  # it never reached the gateway


def test_plain_http_is_refused_without_the_insecure_flag(space: LocalSpace, tmp_path: Path) -> None:
    node_dir, token = _node_dir(tmp_path, 3), _token(space, 3)
    host, port = _address(space.http_url)
    refused = _enroll(node_dir, f"http://{host}:{port}", token)
    assert refused.returncode == 2 and "--insecure-http" in refused.stderr
    assert sorted(p.name for p in node_dir.iterdir()) == ["node.toml"]
    assert _enroll(node_dir, f"{host}:{port}", token).returncode == 0  # HOST:PORT means https


class _Impostor(http.server.BaseHTTPRequestHandler):
    """A man in the middle's gateway: TLS with its own certificate, a CA certificate of its choice."""

    ca_pem: ClassVar[bytes] = b""
    posted: ClassVar[list[bytes]] = []  # each test's impostor is a subclass with a list of its own

    def do_GET(self) -> None:
        self._answer({"ca_certificate_pem": self.ca_pem.decode()})

    def do_POST(self) -> None:
        type(self).posted.append(self.rfile.read(int(self.headers.get("Content-Length", "0"))))
        self._answer({"error": {"code": "gotcha", "message": "thanks for the token"}}, 500)

    def _answer(self, body: object, status: int = 200) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *_args: object) -> None:
        pass


@pytest.fixture
def impostor(tmp_path: Path) -> Iterator[tuple[str, type[_Impostor]]]:
    """An HTTPS server on loopback whose certificate comes from the attacker's own CA."""
    attacker = pki.create_ca("dataspace operator CA", NOW)
    key = pki.new_private_key()
    (tmp_path / "mitm.key").write_bytes(pki.key_pem(key))
    cert = pki.issue_server_certificate(attacker, key, ["127.0.0.1", "localhost"], NOW)
    (tmp_path / "mitm.crt").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(tmp_path / "mitm.crt", tmp_path / "mitm.key")
    handler = type("Impostor", (_Impostor,), {"ca_pem": attacker.cert_pem, "posted": []})
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"https://127.0.0.1:{server.server_address[1]}", handler
    finally:
        server.shutdown()
        server.server_close()
        thread.join(10)


def test_a_man_in_the_middle_with_its_own_ca_never_sees_the_token(
    space: LocalSpace, tmp_path: Path, impostor: tuple[str, type[_Impostor]]
) -> None:
    url, handler = impostor
    node_dir, token = _node_dir(tmp_path, 4), _token(space, 4)
    refused = _enroll(node_dir, url, token)
    assert refused.returncode == 2 and "does not match the fingerprint" in refused.stderr
    assert handler.posted == []
    assert sorted(p.name for p in node_dir.iterdir()) == ["node.toml"]


def test_a_man_in_the_middle_serving_the_genuine_ca_never_sees_the_token(
    space: LocalSpace, tmp_path: Path, impostor: tuple[str, type[_Impostor]]
) -> None:
    """The CA certificate is public, so the impostor serves the right one; its TLS certificate betrays it."""
    url, handler = impostor
    handler.ca_pem = space.ca_pem
    node_dir, token = _node_dir(tmp_path, 5), _token(space, 5)
    refused = _enroll(node_dir, url, token)
    assert refused.returncode == 2 and "CERTIFICATE_VERIFY_FAILED" in refused.stderr
    assert handler.posted == []
    assert sorted(p.name for p in node_dir.iterdir()) == ["node.toml"]
    buyer_token = _token(space, 6, "buyer")
    cli = _run("coordinator", "enroll", "--enrollment-token", buyer_token, "--url", url, "--key-file",
               str(tmp_path / "b.key"), "--ca", str(tmp_path / "b.crt"))  # fmt: skip
    assert cli.returncode == 2 and "CERTIFICATE_VERIFY_FAILED" in cli.stderr
    assert handler.posted == [] and not (tmp_path / "b.key").exists() and not (tmp_path / "b.crt").exists()


def test_a_buyer_enrolls_from_the_pin_and_verifies_the_gateway_with_the_saved_ca(
    space: LocalSpace, tmp_path: Path
) -> None:
    work = tmp_path / "buyer"
    work.mkdir()
    token = _token(space, 7, "buyer")
    enrolled = _run("coordinator", "enroll", "--enrollment-token", token, "--url", space.http_url, cwd=work)
    assert enrolled.returncode == 0, enrolled.stderr
    api_token = enrolled.stdout.strip()
    assert (work / "dataspace-ca.crt").read_bytes() == space.ca_pem  # saved once it matched the pin
    assert (work / "dataspace-buyer.key").stat().st_mode & 0o077 == 0
    offers = _run("coordinator", "offers", "--url", space.http_url, "--token", api_token, "--json", cwd=work)
    assert offers.returncode == 0, offers.stderr
    assert json.loads(offers.stdout) == []
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    no_ca = _run("coordinator", "offers", "--url", space.http_url, "--token", api_token, cwd=elsewhere)
    assert no_ca.returncode == 2 and "no operator CA" in no_ca.stderr
    (elsewhere / "other.crt").write_bytes(pki.create_ca("dataspace operator CA", NOW).cert_pem)
    wrong_ca = _run("coordinator", "offers", "--url", space.http_url, "--token", api_token, "--ca",
                    str(elsewhere / "other.crt"), cwd=elsewhere)  # fmt: skip
    assert wrong_ca.returncode == 2 and "CERTIFICATE_VERIFY_FAILED" in wrong_ca.stderr


def test_plain_http_only_when_both_ends_ask_for_it(tmp_path: Path) -> None:
    insecure = LocalSpace(tmp_path / "insecure", insecure_http=True)
    insecure.start_coordinator()
    try:
        assert insecure.http_url.startswith("http://")
        assert "INSECURE" in (insecure.coordinator_dir / "coordinator.log").read_text()
        node_dir, token = _node_dir(tmp_path, 8), _token(insecure, 8)
        refused = _enroll(node_dir, insecure.http_url, token)
        assert refused.returncode == 2 and "--insecure-http" in refused.stderr
        assert sorted(p.name for p in node_dir.iterdir()) == ["node.toml"]
        enrolled = _enroll(node_dir, insecure.http_url, token, "--insecure-http")
        assert enrolled.returncode == 0, enrolled.stderr  # the pin and the operator's signature still hold
        where = ("--url", insecure.http_url, "--data-dir", str(insecure.coordinator_dir), "--json")
        assert _run("coordinator", "nodes", *where).returncode == 2
        assert _run("coordinator", "nodes", *where, "--insecure-http").returncode == 0
    finally:
        insecure.stop()
