"""The node's identity: its private key, certificate, the pinned operator CA and the coordinator's keys.

Enrollment generates the key on the node (it never leaves), sends a CSR with a one-time token and checks
that the CA it gets back matches the fingerprint pinned in the token.
"""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.x509.oid import NameOID

from contracts.enrollment import EnrollmentToken, MalformedTokenError
from node.exceptions import EnrollmentError

IDENTITY_DIR = "identity"


@dataclass(frozen=True)
class NodeIdentity:
    participant_id: str
    key_pem: bytes
    cert_pem: bytes
    ca_pem: bytes
    grpc_target: str
    ticket_public_key: Ed25519PublicKey
    log_key: str  # C2SP verifier key of the coordinator's audit log, pinned at enrollment
    signing_key: Ed25519PrivateKey  # signs usage-contract terms on behalf of the organisation
    operator_key: Ed25519PublicKey  # countersigns contracts; pinned at enrollment

    @classmethod
    def load(cls, node_dir: Path) -> NodeIdentity:
        base = node_dir / IDENTITY_DIR
        info_path = base / "coordinator.json"
        if not info_path.exists():
            raise EnrollmentError(f"{node_dir} is not enrolled yet: run `dataspace-node enroll` first")
        info = json.loads(info_path.read_text())
        return cls(
            participant_id=info["participant_id"],
            key_pem=(base / "node.key").read_bytes(),
            cert_pem=(base / "node.crt").read_bytes(),
            ca_pem=(base / "ca.crt").read_bytes(),
            grpc_target=info["grpc_target"],
            ticket_public_key=Ed25519PublicKey.from_public_bytes(base64.b64decode(info["ticket_public_key"])),
            log_key=info["log_key"],
            signing_key=Ed25519PrivateKey.from_private_bytes((base / "signing.key").read_bytes()),
            operator_key=Ed25519PublicKey.from_public_bytes(base64.b64decode(info["operator_key"])),
        )


def normalise_url(coordinator: str) -> str:
    """Accept ``HOST:PORT`` or a full URL for the coordinator's gateway."""
    return coordinator if "://" in coordinator else f"http://{coordinator}"


def enroll(node_dir: Path, coordinator: str, token_text: str, *, timeout: float = 30.0) -> NodeIdentity:
    try:
        token = EnrollmentToken.parse(token_text)
    except MalformedTokenError as exc:
        raise EnrollmentError(str(exc)) from exc
    key = ec.generate_private_key(ec.SECP256R1())
    csr = (
        x509.CertificateSigningRequestBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "dataspace node")]))
        .sign(key, hashes.SHA256())
    )
    signing_key = Ed25519PrivateKey.generate()
    url = normalise_url(coordinator).rstrip("/") + "/api/v1/enroll"
    body = {
        "token": str(token),
        "csr_pem": csr.public_bytes(serialization.Encoding.PEM).decode(),
        "signing_public_key": base64.b64encode(signing_key.public_key().public_bytes_raw()).decode(),
    }
    try:
        response = httpx.post(url, json=body, timeout=timeout)
    except httpx.HTTPError as exc:
        raise EnrollmentError(f"cannot reach the coordinator at {url}: {exc}") from exc
    if response.status_code != 200:
        raise EnrollmentError(_describe_refusal(response))
    reply: dict[str, Any] = response.json()
    ca_pem = reply["ca_certificate_pem"].encode()
    cert_pem = reply["certificate_pem"].encode()
    _check_pinned_chain(token, ca_pem, cert_pem, reply["participant_id"])
    _write_identity(node_dir, key, cert_pem, ca_pem, reply)
    signing_path = node_dir / IDENTITY_DIR / "signing.key"
    signing_path.touch(mode=0o600)
    signing_path.write_bytes(signing_key.private_bytes_raw())
    return NodeIdentity.load(node_dir)


def _describe_refusal(response: httpx.Response) -> str:
    try:
        error = response.json()["error"]
        return f"enrollment refused ({response.status_code} {error['code']}): {error['message']}"
    except (ValueError, KeyError, TypeError):
        return f"enrollment refused with HTTP {response.status_code}"


def _check_pinned_chain(token: EnrollmentToken, ca_pem: bytes, cert_pem: bytes, participant_id: str) -> None:
    ca = x509.load_pem_x509_certificate(ca_pem)
    fingerprint = ca.fingerprint(hashes.SHA256()).hex()
    if not token.pins(fingerprint):
        raise EnrollmentError("the coordinator's CA does not match the fingerprint pinned in the token")
    cert = x509.load_pem_x509_certificate(cert_pem)
    try:
        cert.verify_directly_issued_by(ca)
    except (ValueError, TypeError) as exc:
        raise EnrollmentError("the issued certificate was not signed by the pinned CA") from exc
    common_name = cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value
    if common_name != participant_id:
        raise EnrollmentError(f"certificate names {common_name!r}, expected {participant_id!r}")


def _write_identity(
    node_dir: Path, key: ec.EllipticCurvePrivateKey, cert_pem: bytes, ca_pem: bytes, reply: dict[str, Any]
) -> None:
    base = node_dir / IDENTITY_DIR
    base.mkdir(parents=True, exist_ok=True, mode=0o700)
    key_path = base / "node.key"
    key_path.touch(mode=0o600)
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    (base / "node.crt").write_bytes(cert_pem)
    (base / "ca.crt").write_bytes(ca_pem)
    info = {
        k: reply[k] for k in ("participant_id", "grpc_target", "ticket_public_key", "log_key", "operator_key")
    }
    (base / "coordinator.json").write_text(json.dumps(info, indent=2) + "\n")
