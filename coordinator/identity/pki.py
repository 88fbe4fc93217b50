"""The operator CA: issues the coordinator's TLS certificate, participants' certificates, the operator's.

Certificates carry the participant id (USCC) as subject common name and the role as organisational
unit; nodes and coordinator authenticate each other with these over mutual TLS. The gateway serves HTTPS
with the coordinator's TLS certificate. The operator certificate is what lets a participant, holding only
the CA pin of its enrollment token, trust the key that signs its enrollment reply and countersigns
contracts (see ``contracts.enrollment``).
"""

from __future__ import annotations

import hashlib
import ipaddress
import os
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from contracts.enrollment import OPERATOR_SIGNING_EKU

CA_VALIDITY = timedelta(days=3650)
SERVER_VALIDITY = timedelta(days=825)
PARTICIPANT_VALIDITY = timedelta(days=365)
OPERATOR_VALIDITY = timedelta(days=825)
OPERATOR_SUBJECT = x509.Name(
    [
        x509.NameAttribute(NameOID.COMMON_NAME, "dataspace operator"),
        x509.NameAttribute(NameOID.ORGANIZATIONAL_UNIT_NAME, "operator"),
    ]
)


class CsrError(ValueError):
    """A certificate signing request is malformed or its signature does not verify."""


@dataclass(frozen=True)
class OperatorCA:
    key: ec.EllipticCurvePrivateKey
    cert: x509.Certificate

    @property
    def cert_pem(self) -> bytes:
        return self.cert.public_bytes(serialization.Encoding.PEM)

    @property
    def fingerprint(self) -> str:
        return certificate_fingerprint(self.cert)


def certificate_fingerprint(cert: x509.Certificate) -> str:
    return hashlib.sha256(cert.public_bytes(serialization.Encoding.DER)).hexdigest()


def new_private_key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


def key_pem(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


def write_private(path: Path, data: bytes) -> None:
    """Write a secret file readable by its owner only."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(data)


def create_ca(name: str, now: datetime, validity: timedelta = CA_VALIDITY) -> OperatorCA:
    key = new_private_key()
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    cert = (
        _builder(subject, subject, key.public_key(), now, validity)
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(False, False, False, False, False, True, True, False, False), critical=True
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(key, hashes.SHA256())
    )
    return OperatorCA(key, cert)


def load_ca(directory: Path) -> OperatorCA:
    """The CA of an existing data directory; FileNotFoundError if there is none."""
    key_path, cert_path = directory / "ca.key", directory / "ca.crt"
    key = serialization.load_pem_private_key(key_path.read_bytes(), password=None)
    if not isinstance(key, ec.EllipticCurvePrivateKey):
        raise ValueError(f"{key_path} is not an EC private key")
    return OperatorCA(key, x509.load_pem_x509_certificate(cert_path.read_bytes()))


def load_or_create_ca(directory: Path, now: datetime, name: str = "dataspace operator CA") -> OperatorCA:
    key_path, cert_path = directory / "ca.key", directory / "ca.crt"
    if key_path.exists() and cert_path.exists():
        return load_ca(directory)
    directory.mkdir(parents=True, exist_ok=True)
    ca = create_ca(name, now)
    write_private(key_path, key_pem(ca.key))
    cert_path.write_bytes(ca.cert_pem)
    return ca


def issue_server_certificate(
    ca: OperatorCA, key: ec.EllipticCurvePrivateKey, hosts: list[str], now: datetime
) -> x509.Certificate:
    """TLS server certificate for the coordinator, valid for the given DNS names and IP addresses."""
    names: list[x509.GeneralName] = []
    for host in hosts:
        try:
            names.append(x509.IPAddress(ipaddress.ip_address(host)))
        except ValueError:
            names.append(x509.DNSName(host))
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "dataspace coordinator")])
    return (
        _builder(subject, ca.cert.subject, key.public_key(), now, SERVER_VALIDITY)
        .add_extension(x509.SubjectAlternativeName(names), critical=False)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(_end_entity_key_usage(key.public_key()), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .add_extension(_authority_key_identifier(ca), critical=False)
        .sign(ca.key, hashes.SHA256())
    )


def sign_participant_csr(
    ca: OperatorCA,
    csr_pem: bytes,
    *,
    participant_id: str,
    role: str,
    now: datetime,
    validity: timedelta = PARTICIPANT_VALIDITY,
) -> x509.Certificate:
    """Issue a client certificate; the subject comes from the enrollment record, never from the CSR."""
    try:
        csr = x509.load_pem_x509_csr(csr_pem)
    except ValueError as exc:
        raise CsrError(f"certificate signing request is not valid PEM: {exc}") from exc
    if not csr.is_signature_valid:
        raise CsrError("certificate signing request signature does not verify")
    subject = x509.Name(
        [
            x509.NameAttribute(NameOID.COMMON_NAME, participant_id),
            x509.NameAttribute(NameOID.ORGANIZATIONAL_UNIT_NAME, role),
        ]
    )
    public_key = csr.public_key()
    return (
        _builder(subject, ca.cert.subject, public_key, now, validity)
        # RFC 5280 verifiers (pyca's among them) require a SAN in end-entity certificates; the
        # participant's is its subject again, so the participant id stays where it always was.
        .add_extension(x509.SubjectAlternativeName([x509.DirectoryName(subject)]), critical=False)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CLIENT_AUTH]), critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(_end_entity_key_usage(public_key), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(public_key), critical=False)
        .add_extension(_authority_key_identifier(ca), critical=False)
        .sign(ca.key, hashes.SHA256())
    )


def issue_operator_certificate(
    ca: OperatorCA, operator_key: Ed25519PublicKey, now: datetime, validity: timedelta = OPERATOR_VALIDITY
) -> x509.Certificate:
    """Certify the operator's Ed25519 key for operator signing only: enrollment replies and countersignatures.

    Its extended key usage is ``OPERATOR_SIGNING_EKU`` alone, so it is no TLS certificate, and no
    participant or server certificate (which never carry that usage) passes for it.
    """
    usage = x509.KeyUsage(
        digital_signature=True,
        content_commitment=True,  # it countersigns contracts: a commitment the operator cannot deny
        key_encipherment=False,
        data_encipherment=False,
        key_agreement=False,
        key_cert_sign=False,
        crl_sign=False,
        encipher_only=False,
        decipher_only=False,
    )
    return (
        _builder(OPERATOR_SUBJECT, ca.cert.subject, operator_key, now, validity)
        .add_extension(x509.SubjectAlternativeName([x509.DirectoryName(OPERATOR_SUBJECT)]), critical=False)
        .add_extension(x509.ExtendedKeyUsage([OPERATOR_SIGNING_EKU]), critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(usage, critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(operator_key), critical=False)
        .add_extension(_authority_key_identifier(ca), critical=False)
        .sign(ca.key, hashes.SHA256())
    )


def _end_entity_key_usage(public_key: object) -> x509.KeyUsage:
    """Key usage of an end-entity certificate: digitalSignature, plus keyEncipherment for RSA only.

    new_private_key and nodes make ECDSA keys, which sign but cannot encipher.
    """
    return x509.KeyUsage(
        digital_signature=True,
        content_commitment=False,
        key_encipherment=isinstance(public_key, rsa.RSAPublicKey),
        data_encipherment=False,
        key_agreement=False,
        key_cert_sign=False,
        crl_sign=False,
        encipher_only=False,
        decipher_only=False,
    )


def _authority_key_identifier(ca: OperatorCA) -> x509.AuthorityKeyIdentifier:
    """From the CA's SubjectKeyIdentifier; a CA certificate without one gets it derived from its key."""
    try:
        ski = ca.cert.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value
    except x509.ExtensionNotFound:
        return x509.AuthorityKeyIdentifier.from_issuer_public_key(ca.key.public_key())
    return x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(ski)


def _builder(
    subject: x509.Name,
    issuer: x509.Name,
    public_key: object,
    now: datetime,
    validity: timedelta,
) -> x509.CertificateBuilder:
    return (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer)
        .public_key(public_key)  # type: ignore[arg-type]
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=5))
        .not_valid_after(now + validity)
    )
