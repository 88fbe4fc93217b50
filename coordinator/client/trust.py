"""How a client trusts the gateway: HTTPS verified against the operator CA alone, plain HTTP only on request.

``http://`` is accepted only with an explicit insecure flag, and an ``https://`` session needs the CA: the
operator has it in its data directory, a buyer saves it at enrollment (see ``coordinator.client.enrollment``
for how an enrollment token's pin bootstraps it).
"""

from __future__ import annotations

import ssl
from pathlib import Path
from urllib.parse import urlsplit

# What ``dataspace enroll`` writes and every other command reads when no --ca is given.
DEFAULT_CA_FILE = Path("dataspace-ca.crt")


class GatewayTrustError(ValueError):
    """The client cannot talk to the gateway safely as asked."""


class InsecureUrlError(GatewayTrustError):
    """A plain ``http://`` URL without the explicit insecure flag, or a scheme that is neither."""


class MissingCaError(GatewayTrustError):
    """An ``https://`` URL but no operator CA to verify the gateway's certificate against."""


def check_url(url: str, *, insecure_http: bool) -> str:
    """The URL's scheme if the client may use it: https always, http only with ``insecure_http``."""
    scheme = urlsplit(url).scheme.lower()
    if scheme == "https":
        return scheme
    if scheme == "http":
        if not insecure_http:
            raise InsecureUrlError(
                f"refusing plain HTTP to {url}: tokens would cross the network in clear; use https:// "
                "or pass --insecure-http for a local experiment"
            )
        return scheme
    raise InsecureUrlError(f"the gateway URL must start with https:// (or http:// when insecure): {url!r}")


def trusting(ca_pem: bytes) -> ssl.SSLContext:
    """A TLS client context that trusts exactly one CA (no system roots) and checks the host name."""
    context = ssl.create_default_context(cadata=ca_pem.decode("ascii"))
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    return context


def verification_for(url: str, ca_pem: bytes | None, *, insecure_http: bool) -> ssl.SSLContext | bool:
    """What httpx verifies a session with ``url`` by: the CA's context for https, nothing for allowed http."""
    if check_url(url, insecure_http=insecure_http) == "http":
        return False
    if ca_pem is None:
        raise MissingCaError(
            f"no operator CA to verify {url} against: pass --ca FILE (the CA saved by `dataspace enroll`, "
            "or ca.crt of the coordinator's data directory)"
        )
    return trusting(ca_pem)


def ca_file_for(url: str, ca: Path | None, data_dir: Path) -> Path | None:
    """Which CA file verifies ``url``: --ca, else the operator's data directory, else the enrolled buyer's."""
    if urlsplit(url).scheme.lower() != "https":
        return None
    if ca is not None:
        return ca
    for candidate in (data_dir / "ca.crt", DEFAULT_CA_FILE):
        if candidate.is_file():
            return candidate
    return None
