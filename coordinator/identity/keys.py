"""Key material of a coordinator data directory: operator CA, TLS certificate, ticket key, operator token.

The operator key, which countersigns contracts and signs enrollment replies, comes with the CA's
certificate of it.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from contracts.enrollment import hash_secret
from contracts.identity import Role
from coordinator.identity import pki
from coordinator.store.database import Store
from coordinator.store.tables import ApiToken
from protocols.tlog.note import NoteSigner

OPERATOR_ID = "operator"
# The gRPC node service and the HTTPS gateway present the same CA-issued certificate.
SERVER_KEY_FILE, SERVER_CERT_FILE = "server.key", "server.crt"
OPERATOR_CERT_FILE = "operator.crt"


@dataclass(frozen=True)
class CoordinatorKeys:
    ca: pki.OperatorCA
    server_key_pem: bytes
    server_cert_pem: bytes
    ticket_key: Ed25519PrivateKey
    log_signer: NoteSigner
    operator_key: Ed25519PrivateKey  # countersigns usage contracts and signs enrollment replies
    operator_cert_pem: bytes  # the operator CA's certificate of operator_key

    @property
    def ticket_public_key_raw(self) -> bytes:
        return self.ticket_key.public_key().public_bytes(
            serialization.Encoding.Raw, serialization.PublicFormat.Raw
        )


def load_or_create_keys(data_dir: Path, hosts: list[str], now: datetime) -> CoordinatorKeys:
    ca = pki.load_or_create_ca(data_dir, now)
    key_path, cert_path = data_dir / SERVER_KEY_FILE, data_dir / SERVER_CERT_FILE
    if not (key_path.exists() and cert_path.exists() and _covers(cert_path, hosts)):
        key = pki.new_private_key()
        cert = pki.issue_server_certificate(ca, key, hosts, now)
        pki.write_private(key_path, pki.key_pem(key))
        cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    ticket_key = _ed25519_key(data_dir / "ticket.key")
    log_signer = load_log_signer(data_dir, ca)
    operator_key = _ed25519_key(data_dir / "operator.key")
    operator_cert = _operator_certificate(data_dir / OPERATOR_CERT_FILE, ca, operator_key, now)
    return CoordinatorKeys(
        ca, key_path.read_bytes(), cert_path.read_bytes(), ticket_key, log_signer, operator_key, operator_cert
    )


def _operator_certificate(path: Path, ca: pki.OperatorCA, key: Ed25519PrivateKey, now: datetime) -> bytes:
    """The CA's certificate of the operator key; issued again if missing, stale or for another key or CA."""
    if path.exists() and _certifies(path.read_bytes(), ca, key, now):
        return path.read_bytes()
    cert = pki.issue_operator_certificate(ca, key.public_key(), now)
    path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    return path.read_bytes()


def _certifies(pem: bytes, ca: pki.OperatorCA, key: Ed25519PrivateKey, now: datetime) -> bool:
    """Whether ``pem`` is this CA's certificate of ``key``, valid now and for 30 days more."""
    try:
        cert = x509.load_pem_x509_certificate(pem)
        cert.verify_directly_issued_by(ca.cert)
    except (ValueError, TypeError, InvalidSignature):
        return False
    return (
        cert.public_key() == key.public_key()
        and cert.not_valid_before_utc <= now < cert.not_valid_after_utc - timedelta(days=30)
    )


def _ed25519_key(path: Path) -> Ed25519PrivateKey:
    if not path.exists():
        pki.write_private(path, Ed25519PrivateKey.generate().private_bytes_raw())
    return Ed25519PrivateKey.from_private_bytes(path.read_bytes())


def log_origin(ca: pki.OperatorCA) -> str:
    """The audit log's name in checkpoints: unique per space, derived from the operator CA."""
    return f"industrial-dataspace/{ca.fingerprint[:16]}"


def load_log_signer(data_dir: Path, ca: pki.OperatorCA) -> NoteSigner:
    """The Ed25519 key that signs audit-log checkpoints (``log.key``, created once)."""
    path = data_dir / "log.key"
    if not path.exists():
        pki.write_private(path, secrets.token_bytes(32))
    return NoteSigner(log_origin(ca), path.read_bytes())


def _covers(cert_path: Path, hosts: list[str]) -> bool:
    cert = x509.load_pem_x509_certificate(cert_path.read_bytes())
    san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    names = {str(n) for n in san.get_values_for_type(x509.DNSName)}
    names |= {str(ip) for ip in san.get_values_for_type(x509.IPAddress)}
    return set(hosts) <= names


def ensure_operator_token(data_dir: Path, store: Store, now: datetime) -> str:
    """The operator's bearer token, written once to ``operator.token`` (mode 0600)."""
    path = data_dir / "operator.token"
    if path.exists():
        token = path.read_text().strip()
        if store.api_token(hash_secret(token)) is not None:
            return token
    token = "op_" + secrets.token_urlsafe(32)
    store.add_api_token(
        ApiToken(
            token_hash=hash_secret(token), participant_id=OPERATOR_ID, role=Role.OPERATOR, created_at=now
        )
    )
    pki.write_private(path, token.encode())
    return token
