"""The gateway's side of enrollment: the CA a token pins is served, and every reply is a signed grant.

A reply is checked here with the participant's own verifier (``contracts.enrollment.verify_grant``): it
must verify for the token, CSR key and signing key sent, and no field the participant pins may change
without breaking the operator's signature.
"""

from __future__ import annotations

import base64
import secrets
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.x509.oid import NameOID

from contracts.enrollment import (
    EnrollmentGrant,
    EnrollmentReplyError,
    EnrollmentToken,
    public_key_digest,
    verify_grant,
)
from contracts.identity import make_participant_id
from coordinator.context import utc_now
from coordinator.identity import pki
from protocols.tlog.note import NoteSigner
from tests.coordinator.api.conftest import Gateway

FACTORY = make_participant_id("91320500MA1X2Y3L4")
BUYER = make_participant_id("91110000MA01ENRL0")


def _token(gateway: Gateway, participant_id: str, role: str) -> EnrollmentToken:
    body = {"participant_id": participant_id, "role": role}
    issued = gateway.call("operator", "POST", "/api/v1/enrollment-tokens", json=body)
    assert issued.status_code == 201, issued.text
    return EnrollmentToken.parse(issued.json()["token"])


def _csr(key: ec.EllipticCurvePrivateKey) -> str:
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "whatever the node claims")])
    csr = x509.CertificateSigningRequestBuilder().subject_name(name).sign(key, hashes.SHA256())
    return csr.public_bytes(serialization.Encoding.PEM).decode()


def _b64(key: Ed25519PrivateKey) -> str:
    return base64.b64encode(key.public_key().public_bytes_raw()).decode()


def _enroll_factory(gateway: Gateway) -> tuple[dict[str, Any], EnrollmentToken, Any, Ed25519PrivateKey]:
    token, key = _token(gateway, FACTORY, "factory"), ec.generate_private_key(ec.SECP256R1())
    signing = Ed25519PrivateKey.generate()
    body = {"token": str(token), "csr_pem": _csr(key), "signing_public_key": _b64(signing)}
    reply = gateway.call(None, "POST", "/api/v1/enroll", json=body)
    assert reply.status_code == 200, reply.text
    return reply.json(), token, key, signing


def test_the_ca_endpoint_serves_the_ca_every_token_pins(gateway: Gateway) -> None:
    served = gateway.call(None, "GET", "/api/v1/ca")
    assert served.status_code == 200
    ca_pem = served.json()["ca_certificate_pem"].encode()
    assert ca_pem == gateway.context.keys.ca.cert_pem
    token = _token(gateway, FACTORY, "factory")
    assert token.pinned_ca(ca_pem).subject == gateway.context.keys.ca.cert.subject


def test_a_factory_reply_is_a_grant_signed_for_this_token_and_key(gateway: Gateway) -> None:
    reply, token, key, signing = _enroll_factory(gateway)
    grant = verify_grant(
        reply, token, now=utc_now(), csr_public_key=key.public_key(), signing_public_key=signing.public_key()
    )
    keys = gateway.context.keys
    assert grant.participant_id == FACTORY and grant.token_id == token.token_id
    assert grant.csr_key_sha256 == public_key_digest(key.public_key())
    assert grant.operator_key == _b64(keys.operator_key)
    assert grant.operator_certificate_pem.encode() == keys.operator_cert_pem
    assert grant.ticket_public_key == base64.b64encode(keys.ticket_public_key_raw).decode()
    assert grant.log_key == keys.log_signer.verifier().key_string()
    assert reply["api_token"] is None


def test_a_buyer_reply_binds_the_signing_key_and_carries_no_certificate(gateway: Gateway) -> None:
    token, signing = _token(gateway, BUYER, "buyer"), Ed25519PrivateKey.generate()
    reply = gateway.call(
        None, "POST", "/api/v1/enroll", json={"token": str(token), "signing_public_key": _b64(signing)}
    )
    assert reply.status_code == 200, reply.text
    grant = verify_grant(reply.json(), token, now=utc_now(), signing_public_key=signing.public_key())
    assert grant.certificate_pem is None and grant.csr_key_sha256 is None
    assert reply.json()["api_token"].startswith("bt_")
    with pytest.raises(EnrollmentReplyError, match="another contract-signing key"):
        verify_grant(
            reply.json(), token, now=utc_now(), signing_public_key=Ed25519PrivateKey.generate().public_key()
        )


def _alternatives(gateway: Gateway) -> dict[str, str]:
    """A well-formed value other than the one sent, for each field whose only guard is the signature."""
    ca, now = gateway.context.keys.ca, utc_now()
    other_certificate = pki.sign_participant_csr(
        ca, _csr(pki.new_private_key()).encode(), participant_id=FACTORY, role="factory", now=now
    )
    operator_again = pki.issue_operator_certificate(ca, gateway.context.keys.operator_key.public_key(), now)
    return {
        "participant_id": make_participant_id("91320500MA1X2Y3L5"),
        "role": "buyer",
        "token_id": "another-token-id",
        "csr_key_sha256": "0" * 64,
        "signing_public_key": _b64(Ed25519PrivateKey.generate()),
        "certificate_pem": other_certificate.public_bytes(serialization.Encoding.PEM).decode(),
        "operator_certificate_pem": operator_again.public_bytes(serialization.Encoding.PEM).decode(),
        "grpc_target": "attacker.example:7443",
        "ticket_public_key": _b64(Ed25519PrivateKey.generate()),
        "log_key": NoteSigner("attacker.example", secrets.token_bytes(32)).verifier().key_string(),
    }


# The CA is guarded by the pin and the operator key by its certificate (tests/node/test_enrollment.py).
SIGNED_ONLY = sorted(set(EnrollmentGrant.model_fields) - {"ca_certificate_pem", "operator_key"})


@pytest.mark.parametrize("field", SIGNED_ONLY)
def test_the_signature_covers_every_pinned_field(gateway: Gateway, field: str) -> None:
    reply, token, key, signing = _enroll_factory(gateway)
    alternatives = _alternatives(gateway)
    assert sorted(alternatives) == SIGNED_ONLY
    changed = {**reply, field: alternatives[field]}
    with pytest.raises(EnrollmentReplyError, match="signature on the enrollment reply does not verify"):
        verify_grant(changed, token, now=utc_now(), csr_public_key=key.public_key(),
                     signing_public_key=signing.public_key())  # fmt: skip


def test_an_unsigned_reply_is_refused(gateway: Gateway) -> None:
    reply, token, key, signing = _enroll_factory(gateway)
    with pytest.raises(EnrollmentReplyError, match="not signed"):
        verify_grant({**reply, "signature": None}, token, now=utc_now(), csr_public_key=key.public_key(),
                     signing_public_key=signing.public_key())  # fmt: skip
