"""Issued certificates pass pyca/cryptography's strict RFC 5280 verifier (AKI, SKI, KeyUsage, EKU).

The operator certificate passes it with its own extended key usage, and nothing else passes for it.
"""

from __future__ import annotations

import ipaddress
from datetime import UTC, datetime
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
from cryptography.x509.verification import (
    Criticality,
    ExtensionPolicy,
    PolicyBuilder,
    Store,
    VerificationError,
)

from contracts.enrollment import OPERATOR_SIGNING_EKU
from coordinator.identity import pki

NOW = datetime(2025, 6, 1, 12, 0, tzinfo=UTC)
HOSTS = ["localhost", "127.0.0.1"]


def _csr(key: ec.EllipticCurvePrivateKey) -> bytes:
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "whatever the node claims")])
    csr = x509.CertificateSigningRequestBuilder().subject_name(name).sign(key, hashes.SHA256())
    return csr.public_bytes(serialization.Encoding.PEM)


def _participant(ca: pki.OperatorCA) -> x509.Certificate:
    return pki.sign_participant_csr(
        ca, _csr(pki.new_private_key()), participant_id="91310000MA1FL0000X", role="provider", now=NOW
    )


def _verify_server(ca: pki.OperatorCA, cert: x509.Certificate, name: x509.DNSName | x509.IPAddress) -> None:
    PolicyBuilder().store(Store([ca.cert])).time(NOW).build_server_verifier(name).verify(cert, [])


def _verify_client(ca: pki.OperatorCA, cert: x509.Certificate) -> None:
    PolicyBuilder().store(Store([ca.cert])).time(NOW).build_client_verifier().verify(cert, [])


def _legacy_ca() -> pki.OperatorCA:
    """A CA certificate without SubjectKeyIdentifier (as another or older issuer might have made it)."""
    key = pki.new_private_key()
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "dataspace operator CA")])
    cert = (
        pki._builder(subject, subject, key.public_key(), NOW, pki.CA_VALIDITY)
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(False, False, False, False, False, True, True, False, False), critical=True
        )
        .sign(key, hashes.SHA256())
    )
    return pki.OperatorCA(key, cert)


def test_ca_certificate_extensions() -> None:
    ca = pki.create_ca("dataspace operator CA", NOW)
    ext = ca.cert.extensions
    bc = ext.get_extension_for_class(x509.BasicConstraints)
    assert bc.critical and bc.value.ca and bc.value.path_length == 0
    ku = ext.get_extension_for_class(x509.KeyUsage)
    assert ku.critical and ku.value.key_cert_sign and ku.value.crl_sign and not ku.value.digital_signature
    ski = ext.get_extension_for_class(x509.SubjectKeyIdentifier).value
    assert ski == x509.SubjectKeyIdentifier.from_public_key(ca.key.public_key())


def test_server_certificate_passes_strict_verifier() -> None:
    ca = pki.create_ca("dataspace operator CA", NOW)
    cert = pki.issue_server_certificate(ca, pki.new_private_key(), HOSTS, NOW)
    _verify_server(ca, cert, x509.DNSName("localhost"))
    _verify_server(ca, cert, x509.IPAddress(ipaddress.ip_address("127.0.0.1")))
    with pytest.raises(VerificationError):
        _verify_server(ca, cert, x509.DNSName("elsewhere.example"))
    with pytest.raises(VerificationError):  # serverAuth only: not usable as a client certificate
        _verify_client(ca, cert)

    ext = cert.extensions
    ku = ext.get_extension_for_class(x509.KeyUsage)
    assert ku.critical and ku.value.digital_signature and not ku.value.key_encipherment  # EC key
    assert ext.get_extension_for_class(x509.BasicConstraints).critical
    assert not ext.get_extension_for_class(x509.BasicConstraints).value.ca
    assert list(ext.get_extension_for_class(x509.ExtendedKeyUsage).value) == [ExtendedKeyUsageOID.SERVER_AUTH]
    ca_ski = ca.cert.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value
    aki = ext.get_extension_for_class(x509.AuthorityKeyIdentifier).value
    assert aki.key_identifier == ca_ski.digest
    assert ext.get_extension_for_class(x509.SubjectKeyIdentifier).value == (
        x509.SubjectKeyIdentifier.from_public_key(cert.public_key())
    )
    san = ext.get_extension_for_class(x509.SubjectAlternativeName).value
    assert san.get_values_for_type(x509.DNSName) == ["localhost"]
    assert san.get_values_for_type(x509.IPAddress) == [ipaddress.ip_address("127.0.0.1")]
    assert cert.subject.rfc4514_string() == "CN=dataspace coordinator"


def test_participant_certificate_passes_strict_verifier() -> None:
    ca = pki.create_ca("dataspace operator CA", NOW)
    cert = _participant(ca)
    _verify_client(ca, cert)
    with pytest.raises(VerificationError):  # clientAuth only, and no SAN: not a server certificate
        _verify_server(ca, cert, x509.DNSName("localhost"))

    assert cert.subject.rfc4514_string() == "OU=provider,CN=91310000MA1FL0000X"
    ext = cert.extensions
    ku = ext.get_extension_for_class(x509.KeyUsage)
    assert ku.critical and ku.value.digital_signature and not ku.value.key_encipherment
    assert list(ext.get_extension_for_class(x509.ExtendedKeyUsage).value) == [ExtendedKeyUsageOID.CLIENT_AUTH]
    ca_ski = ca.cert.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value
    assert ext.get_extension_for_class(x509.AuthorityKeyIdentifier).value.key_identifier == ca_ski.digest


def test_certificate_without_extensions_is_rejected() -> None:
    """The same verifier refuses what the issuer produced before: EKU and BasicConstraints only."""
    ca = pki.create_ca("dataspace operator CA", NOW)
    key = pki.new_private_key()
    bare = (
        pki._builder(
            x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "91310000MA1FL0000X")]),
            ca.cert.subject,
            key.public_key(),
            NOW,
            pki.PARTICIPANT_VALIDITY,
        )
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CLIENT_AUTH]), critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .sign(ca.key, hashes.SHA256())
    )
    with pytest.raises(VerificationError):
        _verify_client(ca, bare)


def test_issuance_from_ca_without_subject_key_identifier() -> None:
    ca = _legacy_ca()
    expected = x509.AuthorityKeyIdentifier.from_issuer_public_key(ca.key.public_key())
    server = pki.issue_server_certificate(ca, pki.new_private_key(), HOSTS, NOW)
    participant = _participant(ca)
    for cert in (server, participant):
        aki = cert.extensions.get_extension_for_class(x509.AuthorityKeyIdentifier).value
        assert aki == expected
        assert aki.key_identifier == x509.SubjectKeyIdentifier.from_public_key(ca.key.public_key()).digest
        cert.verify_directly_issued_by(ca.cert)
    _verify_server(ca, server, x509.DNSName("localhost"))
    _verify_client(ca, participant)


def test_ca_loaded_from_data_directory_issues_verifiable_certificates(tmp_path: Path) -> None:
    directory = tmp_path
    created = pki.load_or_create_ca(directory, NOW)
    loaded = pki.load_ca(directory)
    assert loaded.fingerprint == created.fingerprint
    _verify_client(loaded, _participant(loaded))
    _verify_server(
        loaded,
        pki.issue_server_certificate(loaded, pki.new_private_key(), HOSTS, NOW),
        x509.DNSName("localhost"),
    )


def _verify_operator(ca: pki.OperatorCA, cert: x509.Certificate) -> None:
    """The strict verifier with the one change operator certificates need: their own extended key usage."""

    def operator_usage(_policy: object, _cert: x509.Certificate, usage: x509.ExtendedKeyUsage | None) -> None:
        if usage is None or OPERATOR_SIGNING_EKU not in usage:
            raise ValueError("not for operator signing")

    ee = ExtensionPolicy.webpki_defaults_ee().require_present(
        x509.ExtendedKeyUsage, Criticality.AGNOSTIC, operator_usage
    )
    policies = PolicyBuilder().store(Store([ca.cert])).time(NOW)
    verifier = policies.extension_policies(
        ca_policy=ExtensionPolicy.webpki_defaults_ca(), ee_policy=ee
    ).build_client_verifier()
    verifier.verify(cert, [])


def test_operator_certificate_is_for_operator_signing_only() -> None:
    ca = pki.create_ca("dataspace operator CA", NOW)
    operator_key = Ed25519PrivateKey.generate().public_key()
    cert = pki.issue_operator_certificate(ca, operator_key, NOW)
    _verify_operator(ca, cert)
    with pytest.raises(VerificationError):  # no TLS client ...
        _verify_client(ca, cert)
    with pytest.raises(VerificationError):  # ... nor server certificate
        _verify_server(ca, cert, x509.DNSName("localhost"))
    assert cert.public_key() == operator_key
    ext = cert.extensions
    ku = ext.get_extension_for_class(x509.KeyUsage)
    assert ku.critical and ku.value.digital_signature and ku.value.content_commitment
    assert not ku.value.key_cert_sign and not ku.value.key_encipherment
    assert list(ext.get_extension_for_class(x509.ExtendedKeyUsage).value) == [OPERATOR_SIGNING_EKU]
    assert not ext.get_extension_for_class(x509.BasicConstraints).value.ca
    ca_ski = ca.cert.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value
    assert ext.get_extension_for_class(x509.AuthorityKeyIdentifier).value.key_identifier == ca_ski.digest


def test_no_other_certificate_of_the_ca_passes_for_the_operators() -> None:
    """A participant may send a CSR for an Ed25519 key: its certificate still lacks the operator usage."""
    ca = pki.create_ca("dataspace operator CA", NOW)
    insider = Ed25519PrivateKey.generate()
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "dataspace operator")])
    csr = x509.CertificateSigningRequestBuilder().subject_name(name).sign(insider, None)
    participant = pki.sign_participant_csr(
        ca, csr.public_bytes(serialization.Encoding.PEM), participant_id="91310000MA1FL0000X", role="factory",
        now=NOW,
    )  # fmt: skip
    server = pki.issue_server_certificate(ca, pki.new_private_key(), HOSTS, NOW)
    for cert in (participant, server):
        with pytest.raises(VerificationError):
            _verify_operator(ca, cert)
    foreign = pki.create_ca("dataspace operator CA", NOW)
    with pytest.raises(VerificationError):
        _verify_operator(ca, pki.issue_operator_certificate(foreign, insider.public_key(), NOW))
