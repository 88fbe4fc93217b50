"""A buyer's enrollment: trust in the gateway bootstrapped from the token's CA pin, then the token redeemed.

The buyer holds no CA yet, so the CA certificate is fetched over TLS without verification (nothing is
trusted at that point) and kept only if its SHA-256 matches the pin. The enrollment then runs over TLS
verified against that CA alone, and its reply is checked as ``contracts.enrollment.verify_grant`` says.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import httpx
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from contracts.enrollment import EnrollmentReplyError, EnrollmentToken
from coordinator.client.gateway import GatewayClient, GatewayError
from coordinator.client.trust import check_url

CA_PATH = "/api/v1/ca"


@dataclass(frozen=True)
class BuyerEnrollment:
    api_token: str
    ca_pem: bytes  # the operator CA, checked against the pin: what later sessions verify the gateway with


def fetch_pinned_ca(
    url: str,
    token: EnrollmentToken,
    *,
    insecure_http: bool = False,
    timeout: float = 30.0,
    transport: httpx.BaseTransport | None = None,
) -> bytes:
    """The gateway's CA certificate (PEM) if it is the one ``token`` pins; else ``EnrollmentReplyError``."""
    check_url(url, insecure_http=insecure_http)
    with httpx.Client(base_url=url.rstrip("/"), verify=False, timeout=timeout, transport=transport) as http:
        response = http.get(CA_PATH)
    if response.status_code != 200:
        raise GatewayError(response.status_code, "ca_unavailable", "the gateway did not serve its CA")
    try:
        pem = response.json()["ca_certificate_pem"]
    except (ValueError, KeyError, TypeError):
        pem = None
    if not isinstance(pem, str):
        raise EnrollmentReplyError("the gateway did not serve a CA certificate")
    return token.pinned_ca(pem.encode()).public_bytes(serialization.Encoding.PEM)


def enroll_buyer(
    url: str,
    token_text: str,
    signing_public_key: Ed25519PublicKey | None,
    *,
    now: datetime,
    insecure_http: bool = False,
    timeout: float = 30.0,
    transport: httpx.BaseTransport | None = None,
) -> BuyerEnrollment:
    """Redeem a buyer's token at ``url``; the API token comes only from a reply that checked out."""
    token = EnrollmentToken.parse(token_text)
    ca_pem = fetch_pinned_ca(url, token, insecure_http=insecure_http, timeout=timeout, transport=transport)
    with GatewayClient(
        url, ca_pem=ca_pem, insecure_http=insecure_http, timeout=timeout, transport=transport
    ) as client:
        api_token = client.enroll_buyer(token_text, signing_public_key, now=now)
    return BuyerEnrollment(api_token, ca_pem)
