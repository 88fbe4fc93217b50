"""A coordinator data directory's operator certificate: issued once, kept, and issued again when stale."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from coordinator.identity import pki
from coordinator.identity.keys import OPERATOR_CERT_FILE, load_or_create_keys

NOW = datetime(2025, 6, 1, 12, 0, tzinfo=UTC)
HOSTS = ["localhost", "127.0.0.1"]


def test_the_operator_key_is_certified_by_the_ca_and_kept(tmp_path: Path) -> None:
    keys = load_or_create_keys(tmp_path, HOSTS, NOW)
    cert = x509.load_pem_x509_certificate(keys.operator_cert_pem)
    cert.verify_directly_issued_by(keys.ca.cert)
    assert cert.public_key() == keys.operator_key.public_key()
    again = load_or_create_keys(tmp_path, HOSTS, NOW + timedelta(days=1))
    assert again.operator_cert_pem == keys.operator_cert_pem == (tmp_path / OPERATOR_CERT_FILE).read_bytes()


def test_the_operator_certificate_is_issued_again_for_a_new_key_or_before_it_expires(tmp_path: Path) -> None:
    first = load_or_create_keys(tmp_path, HOSTS, NOW).operator_cert_pem
    pki.write_private(tmp_path / "operator.key", Ed25519PrivateKey.generate().private_bytes_raw())
    rotated = load_or_create_keys(tmp_path, HOSTS, NOW)
    assert rotated.operator_cert_pem != first
    assert x509.load_pem_x509_certificate(rotated.operator_cert_pem).public_key() == (
        rotated.operator_key.public_key()
    )
    late = NOW + pki.OPERATOR_VALIDITY - timedelta(days=10)
    renewed = load_or_create_keys(tmp_path, HOSTS, late).operator_cert_pem
    assert renewed != rotated.operator_cert_pem
    assert x509.load_pem_x509_certificate(renewed).not_valid_after_utc > late + timedelta(days=365)
