"""The node's enrollment client against a coordinator that lies: every tampered reply is refused.

The coordinator is faked at the node's transport seam (httpx.MockTransport) with the operator's real key
material, so an honest reply is exactly what ``coordinator serve`` sends; each attack then changes what an
attacker could change and checks that the node refuses it and writes nothing. The same checks over a real
socket and a real coordinator are in tests/e2e/test_enrollment_tls.py.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.x509.oid import NameOID

from contracts.enrollment import EnrollmentGrant, EnrollmentToken, public_key_digest, sign_grant
from contracts.identity import Role, make_participant_id
from coordinator.identity import pki
from coordinator.identity.enrollment import EnrollmentResult, signed_grant
from coordinator.identity.keys import CoordinatorKeys, load_or_create_keys
from node.exceptions import EnrollmentError
from node.identity import NodeIdentity, enroll

ME = make_participant_id("91320500MA1X2Y3L4")
OTHER = make_participant_id("91320500MA1X2Y3L5")
NOW = datetime(2025, 6, 1, 12, 0, tzinfo=UTC)
URL = "https://coordinator.example:8443"
GRPC_TARGET = "coordinator.example:7443"
Reply = dict[str, Any]
Tamper = Callable[[Reply, dict[str, Any]], Reply]


class FakeCoordinator:
    """The gateway's two enrollment endpoints, honest unless ``tamper`` rewrites the reply."""

    def __init__(self, keys: CoordinatorKeys, tamper: Tamper | None = None, ca_pem: bytes | None = None):
        self.keys, self.tamper = keys, tamper or (lambda reply, _body: reply)
        self.ca_pem = ca_pem or keys.ca.cert_pem
        self.requests: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        if request.method == "GET" and request.url.path == "/api/v1/ca":
            return httpx.Response(200, json={"ca_certificate_pem": self.ca_pem.decode()})
        assert (request.method, request.url.path) == ("POST", "/api/v1/enroll")
        body = json.loads(request.content)
        token = EnrollmentToken.parse(body["token"])
        csr = x509.load_pem_x509_csr(body["csr_pem"].encode())
        cert = pki.sign_participant_csr(self.keys.ca, body["csr_pem"].encode(), participant_id=ME,
                                        role="factory", now=NOW)  # fmt: skip
        result = EnrollmentResult(
            ME, Role.FACTORY, _pem(cert), None, token.token_id, public_key_digest(csr.public_key()),
            body["signing_public_key"],
        )  # fmt: skip
        grant, signature = signed_grant(result, self.keys, GRPC_TARGET)
        reply = {**grant.model_dump(), "signature": signature, "api_token": None}
        # json.dumps escapes what UTF-8 cannot carry (a lone surrogate), as a hostile server may send it
        return httpx.Response(200, content=json.dumps(self.tamper(reply, body)).encode())


@pytest.fixture
def keys(tmp_path: Path) -> CoordinatorKeys:
    return load_or_create_keys(tmp_path / "coordinator", ["coordinator.example"], NOW)


@pytest.fixture
def node_dir(tmp_path: Path) -> Path:
    directory = tmp_path / "node"
    directory.mkdir()
    (directory / "node.toml").write_text("# the node's config, untouched by enrollment\n")
    return directory


def _pem(cert: x509.Certificate) -> str:
    return cert.public_bytes(serialization.Encoding.PEM).decode()


def _token(keys: CoordinatorKeys) -> str:
    return str(EnrollmentToken.new(keys.ca.fingerprint))


def _enroll(node_dir: Path, fake: FakeCoordinator, token: str, url: str = URL, **kwargs: Any) -> NodeIdentity:
    return enroll(node_dir, url, token, now=NOW, transport=httpx.MockTransport(fake), **kwargs)


def _snapshot(directory: Path) -> dict[str, bytes | None]:
    """Every path under ``directory`` with its content (None for a directory)."""
    return {
        str(p.relative_to(directory)): p.read_bytes() if p.is_file() else None for p in directory.rglob("*")
    }


def _resign(reply: Reply, key: Ed25519PrivateKey) -> Reply:
    grant = EnrollmentGrant.model_validate({name: reply[name] for name in EnrollmentGrant.model_fields})
    return {**reply, "signature": sign_grant(grant, key)}


def _refused(node_dir: Path, fake: FakeCoordinator, token: str, match: str, **kwargs: Any) -> None:
    before = _snapshot(node_dir)
    with pytest.raises(EnrollmentError, match=match):
        _enroll(node_dir, fake, token, **kwargs)
    assert _snapshot(node_dir) == before, "a refused enrollment wrote to the node directory"


def _csr_key(key: ec.EllipticCurvePrivateKey | Ed25519PrivateKey) -> bytes:
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "x")])
    algorithm = None if isinstance(key, Ed25519PrivateKey) else hashes.SHA256()
    return x509.CertificateSigningRequestBuilder().subject_name(name).sign(key, algorithm).public_bytes(
        serialization.Encoding.PEM
    )  # fmt: skip


def test_an_honest_reply_is_pinned_whole(keys: CoordinatorKeys, node_dir: Path) -> None:
    fake = FakeCoordinator(keys)
    identity = _enroll(node_dir, fake, _token(keys))
    assert identity.cert_pem == NodeIdentity.load(node_dir).cert_pem
    assert identity.participant_id == ME and identity.grpc_target == GRPC_TARGET
    assert identity.operator_key.public_bytes_raw() == keys.operator_key.public_key().public_bytes_raw()
    assert identity.ticket_public_key.public_bytes_raw() == keys.ticket_public_key_raw
    assert identity.log_key == keys.log_signer.verifier().key_string()
    assert identity.ca_pem == keys.ca.cert_pem
    certificate = x509.load_pem_x509_certificate(identity.cert_pem)
    own_key = serialization.load_pem_private_key(identity.key_pem, password=None)
    assert isinstance(own_key, ec.EllipticCurvePrivateKey)
    assert public_key_digest(certificate.public_key()) == public_key_digest(own_key.public_key())
    assert (node_dir / "identity" / "operator.crt").read_bytes() == keys.operator_cert_pem
    assert sorted(p.name for p in (node_dir / "identity").iterdir()) == [
        "ca.crt", "coordinator.json", "node.crt", "node.key", "operator.crt", "signing.key",
    ]  # fmt: skip
    assert (node_dir / "identity" / "node.key").stat().st_mode & 0o077 == 0
    assert [r.url.scheme for r in fake.requests] == ["https", "https"]


def test_an_unsigned_reply_is_refused(keys: CoordinatorKeys, node_dir: Path) -> None:
    fake = FakeCoordinator(keys, lambda reply, _: {k: v for k, v in reply.items() if k != "signature"})
    _refused(node_dir, fake, _token(keys), "not signed by the operator")


def test_a_reply_signed_by_another_key_is_refused(keys: CoordinatorKeys, node_dir: Path) -> None:
    fake = FakeCoordinator(keys, lambda reply, _: _resign(reply, Ed25519PrivateKey.generate()))
    _refused(node_dir, fake, _token(keys), "signature on the enrollment reply does not verify")


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("grpc_target", "attacker.example:7443"),
        ("ticket_public_key", base64.b64encode(bytes(32)).decode()),
        ("participant_id", OTHER),
    ],
)
def test_a_pinned_value_changed_after_signing_is_refused(
    keys: CoordinatorKeys, node_dir: Path, field: str, value: str
) -> None:
    fake = FakeCoordinator(keys, lambda reply, _: {**reply, field: value})
    _refused(node_dir, fake, _token(keys), "does not verify")


def test_an_operator_key_certified_by_another_ca_is_refused(keys: CoordinatorKeys, node_dir: Path) -> None:
    """The attacker signs with its own key and brings a certificate of it, from its own CA."""
    attacker = Ed25519PrivateKey.generate()
    foreign = pki.create_ca("dataspace operator CA", NOW)
    forged = pki.issue_operator_certificate(foreign, attacker.public_key(), NOW)

    def swap(reply: Reply, _body: dict[str, Any]) -> Reply:
        raw = base64.b64encode(attacker.public_key().public_bytes_raw()).decode()
        return _resign({**reply, "operator_key": raw, "operator_certificate_pem": _pem(forged)}, attacker)

    _refused(node_dir, FakeCoordinator(keys, swap), _token(keys), "not certified for operator signing")


def test_an_operator_key_only_named_in_the_reply_is_refused(keys: CoordinatorKeys, node_dir: Path) -> None:
    """The genuine operator certificate, but another key in the reply, which signed it."""
    attacker = Ed25519PrivateKey.generate()

    def swap(reply: Reply, _body: dict[str, Any]) -> Reply:
        raw = base64.b64encode(attacker.public_key().public_bytes_raw()).decode()
        return _resign({**reply, "operator_key": raw}, attacker)

    _refused(node_dir, FakeCoordinator(keys, swap), _token(keys), "not the one the CA certified")


def test_a_participant_certificate_of_the_same_ca_cannot_pose_as_the_operator(
    keys: CoordinatorKeys, node_dir: Path
) -> None:
    """Another participant got an Ed25519 key certified by the same CA; it is no operator certificate."""
    insider = Ed25519PrivateKey.generate()
    certificate = pki.sign_participant_csr(keys.ca, _csr_key(insider), participant_id=OTHER, role="factory",
                                           now=NOW)  # fmt: skip

    def swap(reply: Reply, _body: dict[str, Any]) -> Reply:
        raw = base64.b64encode(insider.public_key().public_bytes_raw()).decode()
        return _resign({**reply, "operator_key": raw, "operator_certificate_pem": _pem(certificate)}, insider)

    _refused(node_dir, FakeCoordinator(keys, swap), _token(keys), "not certified for operator signing")


def test_a_certificate_for_another_key_is_refused(keys: CoordinatorKeys, node_dir: Path) -> None:
    """The operator signs a grant bound to the node's CSR, but the certificate holds a key the node lacks."""
    other = pki.sign_participant_csr(keys.ca, _csr_key(pki.new_private_key()), participant_id=ME,
                                     role="factory", now=NOW)  # fmt: skip
    fake = FakeCoordinator(keys, lambda reply, _: _resign({**reply, "certificate_pem": _pem(other)},
                                                          keys.operator_key))  # fmt: skip
    _refused(node_dir, fake, _token(keys), "certificate is for another key")


def test_a_reply_bound_to_another_request_is_refused(keys: CoordinatorKeys, node_dir: Path) -> None:
    other_key = pki.new_private_key()
    other = pki.sign_participant_csr(keys.ca, _csr_key(other_key), participant_id=ME, role="factory", now=NOW)

    def substitute(reply: Reply, _body: dict[str, Any]) -> Reply:
        swapped = {**reply, "certificate_pem": _pem(other),
                   "csr_key_sha256": public_key_digest(other_key.public_key())}  # fmt: skip
        return _resign(swapped, keys.operator_key)

    _refused(node_dir, FakeCoordinator(keys, substitute), _token(keys), "another certificate signing request")


def test_a_certificate_naming_another_participant_is_refused(keys: CoordinatorKeys, node_dir: Path) -> None:
    def rename(reply: Reply, body: dict[str, Any]) -> Reply:
        cert = pki.sign_participant_csr(keys.ca, body["csr_pem"].encode(), participant_id=OTHER,
                                        role="factory", now=NOW)  # fmt: skip
        return _resign({**reply, "certificate_pem": _pem(cert)}, keys.operator_key)

    _refused(node_dir, FakeCoordinator(keys, rename), _token(keys), "does not name")


def test_a_certificate_from_another_ca_is_refused(keys: CoordinatorKeys, node_dir: Path) -> None:
    foreign = pki.create_ca("dataspace operator CA", NOW)

    def reissue(reply: Reply, body: dict[str, Any]) -> Reply:
        cert = pki.sign_participant_csr(foreign, body["csr_pem"].encode(), participant_id=ME,
                                        role="factory", now=NOW)  # fmt: skip
        return _resign({**reply, "certificate_pem": _pem(cert)}, keys.operator_key)

    _refused(node_dir, FakeCoordinator(keys, reissue), _token(keys), "does not chain to the pinned CA")


def test_a_reply_to_another_token_is_refused(keys: CoordinatorKeys, node_dir: Path) -> None:
    fake = FakeCoordinator(keys, lambda reply, _: _resign({**reply, "token_id": "another-token"},
                                                          keys.operator_key))  # fmt: skip
    _refused(node_dir, fake, _token(keys), "another enrollment token")


def test_a_reply_registering_another_signing_key_is_refused(keys: CoordinatorKeys, node_dir: Path) -> None:
    someone = base64.b64encode(Ed25519PrivateKey.generate().public_key().public_bytes_raw()).decode()
    fake = FakeCoordinator(keys, lambda reply, _: _resign({**reply, "signing_public_key": someone},
                                                          keys.operator_key))  # fmt: skip
    _refused(node_dir, fake, _token(keys), "another contract-signing key")


def test_a_ca_that_is_not_the_pinned_one_is_refused_before_the_token_is_sent(
    keys: CoordinatorKeys, node_dir: Path
) -> None:
    """A man in the middle serves its own CA: the node stops before the token leaves it."""
    fake = FakeCoordinator(keys, ca_pem=pki.create_ca("dataspace operator CA", NOW).cert_pem)
    _refused(node_dir, fake, _token(keys), "does not match the fingerprint pinned in the token")
    assert [r.method for r in fake.requests] == ["GET"]


def test_a_wrong_pin_is_refused(keys: CoordinatorKeys, node_dir: Path) -> None:
    token = EnrollmentToken.parse(_token(keys))
    wrong = EnrollmentToken(token.token_id, token.secret, pki.create_ca("x", NOW).fingerprint[:32])
    fake = FakeCoordinator(keys)
    _refused(node_dir, fake, str(wrong), "does not match the fingerprint")
    assert [r.method for r in fake.requests] == ["GET"]


def test_plain_http_is_refused_without_the_insecure_flag(keys: CoordinatorKeys, node_dir: Path) -> None:
    fake = FakeCoordinator(keys)
    _refused(node_dir, fake, _token(keys), "--insecure-http", url="http://coordinator.example:8080")
    assert fake.requests == []  # not even the CA was asked for: the token never left
    identity = _enroll(
        node_dir, fake, _token(keys), url="http://coordinator.example:8080", insecure_http=True
    )
    assert identity.participant_id == ME  # still pinned and signature-checked, only not confidential
    assert {r.url.scheme for r in fake.requests} == {"http"}


def test_host_and_port_mean_https(keys: CoordinatorKeys, node_dir: Path) -> None:
    fake = FakeCoordinator(keys)
    _enroll(node_dir, fake, _token(keys), url="coordinator.example:8443")
    assert [str(r.url) for r in fake.requests] == [
        "https://coordinator.example:8443/api/v1/ca", "https://coordinator.example:8443/api/v1/enroll",
    ]  # fmt: skip


def test_a_refused_enrollment_keeps_the_identity_the_node_had(keys: CoordinatorKeys, node_dir: Path) -> None:
    _enroll(node_dir, FakeCoordinator(keys), _token(keys))
    liar = FakeCoordinator(keys, lambda reply, _: {**reply, "grpc_target": "attacker.example:7443"})
    _refused(node_dir, liar, _token(keys), "does not verify")
    assert NodeIdentity.load(node_dir).grpc_target == GRPC_TARGET


@pytest.mark.parametrize(
    "rewrite",
    [
        lambda reply: {k: v for k, v in reply.items() if k != "operator_certificate_pem"},
        lambda reply: {**reply, "grpc_target": "coordinator\ud800.example:7443"},
        lambda reply: {**reply, "operator_certificate_pem": "-----BEGIN CERTIFICATE-----\nAAAA\n"},
        lambda reply: {**reply, "ca_certificate_pem": 7},
        lambda reply: ["not", "an", "object"],
    ],
    ids=["missing-field", "lone-surrogate", "garbage-certificate", "wrong-type", "not-an-object"],
)
def test_a_malformed_reply_is_refused_cleanly(
    keys: CoordinatorKeys, node_dir: Path, rewrite: Callable[[Reply], Any]
) -> None:
    fake = FakeCoordinator(keys, lambda reply, _: rewrite(reply))
    _refused(node_dir, fake, _token(keys), "enrollment reply|coordinator at")
