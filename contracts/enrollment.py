"""Enrollment: one-time tokens that pin the operator CA, and the operator-signed reply a participant pins.

Token format: ``<token id>.<secret>.<first 32 hex digits of SHA-256(CA certificate DER)>``. The coordinator
stores only a hash of the secret. A participant trusts nothing it has not checked against the pin: it
fetches the CA certificate, compares its fingerprint with the pin, and then verifies the gateway's TLS
certificate against that CA alone, so a man in the middle cannot substitute its own CA.

The reply is an :class:`EnrollmentGrant`: everything the participant will pin (its certificate, the CA,
the gRPC target, the ticket, log and operator keys), bound to this enrollment (the token id, the SHA-256 of
the CSR's public key, the contract-signing key registered) and signed by the operator's Ed25519 key over
canonical JSON.

The operator key is authenticated by the pin, not by being in the reply: the operator CA certifies it. The
reply carries an X.509 certificate for the Ed25519 operator key with an extended key usage of its own
(``OPERATOR_SIGNING_EKU``), and the participant accepts the key only if that certificate passes a strict
RFC 5280 verification against the pinned CA. Why a certificate rather than a second pin in the token: the
token keeps one trust anchor and its short format; the CA, which already vouches for every certificate of
the space, vouches for the operator key the same way and can certify a new one without reissuing tokens;
and the dedicated key usage means no other certificate of the same CA (a participant's, whose CSR may hold
an Ed25519 key too, or the gateway's) can pose as the operator's. The signature adds what TLS cannot: the
participant keeps evidence of what the operator told it, and a reply from another enrollment, or from
whoever holds only the gateway's TLS key, is refused.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import re
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Annotated, Any, Final

from cryptography import x509
from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.asymmetric.types import CertificatePublicKeyTypes
from cryptography.x509.oid import NameOID
from cryptography.x509.verification import (
    Criticality,
    ExtensionPolicy,
    PolicyBuilder,
    Store,
    VerificationError,
)
from pydantic import BaseModel, ConfigDict, Field, StringConstraints, ValidationError

from contracts.canonical import SafeId, canonical
from protocols.tlog.exceptions import KeyFormatError
from protocols.tlog.note import NoteVerifier

_TOKEN_RE = re.compile(
    r"^(?P<id>[A-Za-z0-9_-]{8,32})\.(?P<secret>[A-Za-z0-9_-]{32,64})\.(?P<pin>[0-9a-f]{32})$"
)
CA_PIN_HEX_DIGITS = 32
# PEM, host names and key strings: printable ASCII and line breaks, nothing a hostile reply could hide.
Text = Annotated[str, StringConstraints(pattern=r"^[\x20-\x7e\r\n\t]*$")]
# Domain separation: the operator key also countersigns contracts; a grant can never pass for one.
GRANT_TYPE: Final = "dataspace.enrollment.grant.v1"
# An OID under the UUID arc (ITU-T X.667, 2.25): needs no registration and collides with no other use.
OPERATOR_SIGNING_EKU: Final = x509.ObjectIdentifier("2.25.246515120973811698901990387142534979539")


class MalformedTokenError(ValueError):
    """The text is not an enrollment token."""


class EnrollmentReplyError(ValueError):
    """The enrollment reply does not check out against the token's pin and what the participant sent."""


@dataclass(frozen=True)
class EnrollmentToken:
    token_id: str
    secret: str
    ca_pin: str

    def __str__(self) -> str:
        return f"{self.token_id}.{self.secret}.{self.ca_pin}"

    @classmethod
    def parse(cls, text: str) -> EnrollmentToken:
        match = _TOKEN_RE.match(text.strip())
        if match is None:
            raise MalformedTokenError("enrollment token must look like <id>.<secret>.<ca-pin>")
        return cls(match["id"], match["secret"], match["pin"])

    @classmethod
    def new(cls, ca_fingerprint_hex: str) -> EnrollmentToken:
        return cls(
            secrets.token_urlsafe(9), secrets.token_urlsafe(32), ca_fingerprint_hex[:CA_PIN_HEX_DIGITS]
        )

    def secret_hash(self) -> str:
        return hash_secret(self.secret)

    def pins(self, ca_fingerprint_hex: str) -> bool:
        return hmac.compare_digest(self.ca_pin, ca_fingerprint_hex[:CA_PIN_HEX_DIGITS])

    def pinned_ca(self, ca_pem: bytes) -> x509.Certificate:
        """The CA certificate in ``ca_pem`` if it is the one this token pins; else EnrollmentReplyError."""
        try:
            ca = x509.load_pem_x509_certificate(ca_pem)
        except ValueError as exc:
            raise EnrollmentReplyError(f"the CA certificate is not valid PEM: {exc}") from exc
        if not self.pins(ca.fingerprint(hashes.SHA256()).hex()):
            raise EnrollmentReplyError(
                "the coordinator's CA does not match the fingerprint pinned in the token"
            )
        return ca


def hash_secret(secret: str) -> str:
    """SHA-256 of a high-entropy secret; what stores keep instead of the secret."""
    return hashlib.sha256(secret.encode()).hexdigest()


def public_key_digest(key: CertificatePublicKeyTypes) -> str:
    """Hex SHA-256 of a public key's SubjectPublicKeyInfo (DER): what binds a grant to a CSR."""
    der = key.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    return hashlib.sha256(der).hexdigest()


class EnrollmentGrant(BaseModel):
    """What the operator signs in an enrollment reply: every value the participant pins, and the binding."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    participant_id: SafeId
    role: Text = Field(max_length=32)
    token_id: str = Field(pattern=r"^[A-Za-z0-9_-]{1,32}$")
    csr_key_sha256: str | None = Field(default=None, pattern=r"^[0-9a-f]{64}$")
    signing_public_key: str | None = Field(default=None, pattern=r"^[A-Za-z0-9+/=]{1,64}$")
    certificate_pem: Text | None = Field(default=None, max_length=16_384)
    ca_certificate_pem: Text = Field(max_length=16_384)
    operator_certificate_pem: Text = Field(max_length=16_384)
    grpc_target: Text = Field(max_length=300)
    ticket_public_key: str = Field(pattern=r"^[A-Za-z0-9+/=]{1,64}$")
    log_key: Text = Field(max_length=300)
    operator_key: str = Field(pattern=r"^[A-Za-z0-9+/=]{1,64}$")

    def payload(self) -> bytes:
        """The exact bytes the operator signs."""
        return canonical({"type": GRANT_TYPE, **self.model_dump(mode="json")})


def sign_grant(grant: EnrollmentGrant, operator_key: Ed25519PrivateKey) -> str:
    """The operator's signature of ``grant``, standard base64."""
    return base64.b64encode(operator_key.sign(grant.payload())).decode("ascii")


def verify_grant(
    reply: Mapping[str, Any],
    token: EnrollmentToken,
    *,
    now: datetime,
    csr_public_key: CertificatePublicKeyTypes | None = None,
    signing_public_key: Ed25519PublicKey | None = None,
) -> EnrollmentGrant:
    """Check an enrollment reply against the token's pin and what was sent; return the grant to pin.

    The CA must be the pinned one, the operator key certified by it for operator signing, the signature
    the operator's over the grant, the grant bound to this token, this CSR's key and this signing key, and
    the issued certificate (when a CSR was sent) chained to the CA, naming the participant and carrying
    exactly the CSR's key. Raises ``EnrollmentReplyError`` naming the first check that failed.
    """
    try:
        return _verify(reply, token, now, csr_public_key, signing_public_key)
    except EnrollmentReplyError:
        raise
    except (ValueError, TypeError, UnsupportedAlgorithm) as exc:  # what a hostile reply makes a parser raise
        raise EnrollmentReplyError(f"the enrollment reply cannot be checked: {exc}") from exc


def _verify(
    reply: Mapping[str, Any],
    token: EnrollmentToken,
    now: datetime,
    csr_public_key: CertificatePublicKeyTypes | None,
    signing_public_key: Ed25519PublicKey | None,
) -> EnrollmentGrant:
    grant = _parse(reply)
    ca = token.pinned_ca(grant.ca_certificate_pem.encode())
    operator_key = _certified_operator_key(grant, ca, now)
    _check_signature(grant, reply.get("signature"), operator_key)
    if grant.token_id != token.token_id:
        raise EnrollmentReplyError("the reply answers another enrollment token")
    expected_csr = public_key_digest(csr_public_key) if csr_public_key is not None else None
    if grant.csr_key_sha256 != expected_csr:
        raise EnrollmentReplyError("the reply is bound to another certificate signing request")
    expected_signing = _b64_raw(signing_public_key) if signing_public_key is not None else None
    if grant.signing_public_key != expected_signing:
        raise EnrollmentReplyError("the reply registers another contract-signing key")
    if csr_public_key is not None:
        _check_certificate(grant, ca, csr_public_key, now)
    _check_pinned_keys(grant)
    return grant


def _parse(reply: Mapping[str, Any]) -> EnrollmentGrant:
    try:
        return EnrollmentGrant.model_validate(
            {name: reply.get(name) for name in EnrollmentGrant.model_fields}
        )
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors()[:5])
        raise EnrollmentReplyError(f"the enrollment reply is malformed ({problems})") from None


def _operator_usage(_policy: object, _cert: x509.Certificate, usage: x509.ExtendedKeyUsage | None) -> None:
    if usage is None or OPERATOR_SIGNING_EKU not in usage:
        raise ValueError("not certified for operator signing")


def _certified_operator_key(grant: EnrollmentGrant, ca: x509.Certificate, now: datetime) -> Ed25519PublicKey:
    try:
        cert = x509.load_pem_x509_certificate(grant.operator_certificate_pem.encode())
    except ValueError as exc:
        raise EnrollmentReplyError(f"the operator certificate is not valid PEM: {exc}") from exc
    ee_policy = ExtensionPolicy.webpki_defaults_ee().require_present(
        x509.ExtendedKeyUsage, Criticality.AGNOSTIC, _operator_usage
    )
    verifier = (
        PolicyBuilder()
        .store(Store([ca]))
        .time(now)
        .extension_policies(ca_policy=ExtensionPolicy.webpki_defaults_ca(), ee_policy=ee_policy)
        .build_client_verifier()
    )
    try:
        verifier.verify(cert, [])
    except VerificationError as exc:
        raise EnrollmentReplyError(
            f"the operator key is not certified for operator signing by the pinned CA: {exc}"
        ) from exc
    key = cert.public_key()
    if not isinstance(key, Ed25519PublicKey):
        raise EnrollmentReplyError("the operator certificate does not hold an Ed25519 key")
    if _b64_raw(key) != grant.operator_key:
        raise EnrollmentReplyError("the operator key in the reply is not the one the CA certified")
    return key


def _check_signature(grant: EnrollmentGrant, signature: object, key: Ed25519PublicKey) -> None:
    if not isinstance(signature, str) or not signature:
        raise EnrollmentReplyError("the enrollment reply is not signed by the operator")
    try:
        key.verify(base64.b64decode(signature, validate=True), grant.payload())
    except (binascii.Error, InvalidSignature) as exc:
        raise EnrollmentReplyError(
            "the operator's signature on the enrollment reply does not verify"
        ) from exc


def _check_certificate(
    grant: EnrollmentGrant, ca: x509.Certificate, csr_key: CertificatePublicKeyTypes, now: datetime
) -> None:
    if grant.certificate_pem is None:
        raise EnrollmentReplyError("the reply carries no certificate for the request sent")
    try:
        cert = x509.load_pem_x509_certificate(grant.certificate_pem.encode())
    except ValueError as exc:
        raise EnrollmentReplyError(f"the issued certificate is not valid PEM: {exc}") from exc
    try:
        PolicyBuilder().store(Store([ca])).time(now).build_client_verifier().verify(cert, [])
    except VerificationError as exc:
        raise EnrollmentReplyError(f"the issued certificate does not chain to the pinned CA: {exc}") from exc
    names = cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
    if [n.value for n in names] != [grant.participant_id]:
        raise EnrollmentReplyError(f"the issued certificate does not name {grant.participant_id!r}")
    if public_key_digest(cert.public_key()) != public_key_digest(csr_key):
        raise EnrollmentReplyError("the issued certificate is for another key than the one requested")


def _check_pinned_keys(grant: EnrollmentGrant) -> None:
    try:
        Ed25519PublicKey.from_public_bytes(base64.b64decode(grant.ticket_public_key, validate=True))
    except (binascii.Error, ValueError) as exc:
        raise EnrollmentReplyError("the ticket key is not a raw Ed25519 public key in base64") from exc
    try:
        NoteVerifier.from_key_string(grant.log_key)
    except KeyFormatError as exc:
        raise EnrollmentReplyError(f"the log key is malformed: {exc}") from exc


def _b64_raw(key: Ed25519PublicKey) -> str:
    return base64.b64encode(key.public_bytes_raw()).decode("ascii")
