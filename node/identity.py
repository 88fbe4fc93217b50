"""The node's identity: its private key, certificate, the pinned operator CA and the coordinator's keys.

Enrollment generates the key on the node (it never leaves). The one-time token pins the operator CA: the
node fetches the CA certificate, keeps it only if it matches the pin, and then sends its CSR over HTTPS
verified against that CA alone. The reply must be the operator's signed grant for this token and this
key (``contracts.enrollment.verify_grant``); only then is anything written, and every key it grants pinned.
"""

from __future__ import annotations

import base64
import json
import os
import shutil
import ssl
import tempfile
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.x509.oid import NameOID

from contracts.enrollment import (
    EnrollmentGrant,
    EnrollmentReplyError,
    EnrollmentToken,
    MalformedTokenError,
    verify_grant,
)
from node.exceptions import EnrollmentError

IDENTITY_DIR = "identity"
CA_PATH, ENROLL_PATH = "/api/v1/ca", "/api/v1/enroll"


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


def normalise_url(coordinator: str, *, insecure_http: bool = False) -> str:
    """The gateway URL from ``HOST:PORT`` (https) or a full URL; ``http://`` only with ``insecure_http``."""
    url = (coordinator if "://" in coordinator else f"https://{coordinator}").rstrip("/")
    scheme = urlsplit(url).scheme.lower()
    if scheme == "http" and not insecure_http:
        raise EnrollmentError(
            f"refusing to enroll over plain HTTP ({url}): the token would cross the network in clear; "
            "use https:// or pass --insecure-http for a local experiment"
        )
    if scheme not in ("http", "https"):
        raise EnrollmentError(f"the coordinator's gateway must be an https:// URL, not {url!r}")
    return url


def enroll(
    node_dir: Path,
    coordinator: str,
    token_text: str,
    *,
    now: datetime,
    insecure_http: bool = False,
    timeout: float = 30.0,
    transport: httpx.BaseTransport | None = None,
) -> NodeIdentity:
    """Enroll this node: pin the CA from the token, get the node's own key certified, pin what was granted.

    Every check happens before anything is written: a refusal (``EnrollmentError``) leaves the node
    directory as it was. ``transport`` replaces the network (tests).
    """
    try:
        token = EnrollmentToken.parse(token_text)
    except MalformedTokenError as exc:
        raise EnrollmentError(str(exc)) from exc
    url = normalise_url(coordinator, insecure_http=insecure_http)
    ca_pem = _fetch_pinned_ca(url, token, timeout, transport)
    key = ec.generate_private_key(ec.SECP256R1())
    csr = (
        x509.CertificateSigningRequestBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "dataspace node")]))
        .sign(key, hashes.SHA256())
    )
    signing_key = Ed25519PrivateKey.generate()
    body = {
        "token": str(token),
        "csr_pem": csr.public_bytes(serialization.Encoding.PEM).decode(),
        "signing_public_key": base64.b64encode(signing_key.public_key().public_bytes_raw()).decode(),
    }
    verify = ssl_trusting(ca_pem) if urlsplit(url).scheme.lower() == "https" else False
    reply = _request(url, "POST", ENROLL_PATH, verify, timeout, transport, json=body)
    try:
        grant = verify_grant(
            reply,
            token,
            now=now,
            csr_public_key=key.public_key(),
            signing_public_key=signing_key.public_key(),
        )
    except EnrollmentReplyError as exc:
        raise EnrollmentError(f"the enrollment reply was refused: {exc}") from exc
    _write_identity(node_dir, key, signing_key, grant)
    return NodeIdentity.load(node_dir)


def ssl_trusting(ca_pem: bytes) -> ssl.SSLContext:
    """A TLS client context that trusts the pinned CA alone (no system roots) and checks the host name."""
    context = ssl.create_default_context(cadata=ca_pem.decode("ascii"))
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    return context


def _fetch_pinned_ca(
    url: str, token: EnrollmentToken, timeout: float, transport: httpx.BaseTransport | None
) -> bytes:
    """The gateway's CA if it matches the token's pin; fetched unverified, as nothing is trusted before."""
    reply = _request(url, "GET", CA_PATH, False, timeout, transport)
    pem = reply.get("ca_certificate_pem")
    if not isinstance(pem, str):
        raise EnrollmentError(f"{url} did not serve a CA certificate")
    try:
        return token.pinned_ca(pem.encode()).public_bytes(serialization.Encoding.PEM)
    except EnrollmentReplyError as exc:
        raise EnrollmentError(str(exc)) from exc


def _request(
    url: str,
    method: str,
    path: str,
    verify: ssl.SSLContext | bool,
    timeout: float,
    transport: httpx.BaseTransport | None,
    **kwargs: Any,
) -> dict[str, Any]:
    try:
        with httpx.Client(base_url=url, verify=verify, timeout=timeout, transport=transport) as client:
            response = client.request(method, path, **kwargs)
    except httpx.HTTPError as exc:
        raise EnrollmentError(f"cannot reach the coordinator at {url}{path}: {exc}") from exc
    if response.status_code != 200:
        raise EnrollmentError(_describe_refusal(response))
    try:
        data = response.json()
    except ValueError:
        data = None
    if not isinstance(data, dict):
        raise EnrollmentError(f"the coordinator at {url}{path} answered with something other than JSON")
    return data


def _describe_refusal(response: httpx.Response) -> str:
    try:
        error = response.json()["error"]
        return f"enrollment refused ({response.status_code} {error['code']}): {error['message']}"
    except (ValueError, KeyError, TypeError):
        return f"enrollment refused with HTTP {response.status_code}"


def _write_identity(
    node_dir: Path, key: ec.EllipticCurvePrivateKey, signing_key: Ed25519PrivateKey, grant: EnrollmentGrant
) -> None:
    """Write the checked identity next to the old one, then move each file in; coordinator.json last."""
    base = node_dir / IDENTITY_DIR
    base.mkdir(parents=True, exist_ok=True, mode=0o700)
    info = {
        "participant_id": grant.participant_id,
        "grpc_target": grant.grpc_target,
        "ticket_public_key": grant.ticket_public_key,
        "log_key": grant.log_key,
        "operator_key": grant.operator_key,
    }
    files = {
        "node.key": key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        ),
        "signing.key": signing_key.private_bytes_raw(),
        "node.crt": (grant.certificate_pem or "").encode(),
        "ca.crt": grant.ca_certificate_pem.encode(),
        "operator.crt": grant.operator_certificate_pem.encode(),
        "coordinator.json": (json.dumps(info, indent=2) + "\n").encode(),
    }
    staging = Path(tempfile.mkdtemp(prefix=".enrolling-", dir=base))
    try:
        for name, data in files.items():
            fd = os.open(staging / name, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "wb") as handle:
                handle.write(data)
        for name in files:  # coordinator.json comes last: until it moves in, the node is not enrolled
            os.replace(staging / name, base / name)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
