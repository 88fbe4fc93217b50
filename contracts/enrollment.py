"""Enrollment tokens: one-time secrets that carry the fingerprint of the operator CA to pin.

Format: ``<token id>.<secret>.<first 32 hex digits of SHA-256(CA certificate DER)>``. The coordinator
stores only a hash of the secret; the node compares the CA it receives at enrollment with the pin, so a
man in the middle cannot substitute its own CA.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass

_TOKEN_RE = re.compile(
    r"^(?P<id>[A-Za-z0-9_-]{8,32})\.(?P<secret>[A-Za-z0-9_-]{32,64})\.(?P<pin>[0-9a-f]{32})$"
)
CA_PIN_HEX_DIGITS = 32


class MalformedTokenError(ValueError):
    """The text is not an enrollment token."""


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


def hash_secret(secret: str) -> str:
    """SHA-256 of a high-entropy secret; what stores keep instead of the secret."""
    return hashlib.sha256(secret.encode()).hexdigest()
