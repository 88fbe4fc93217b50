"""Coordinator settings from flags and ``DATASPACE_*`` variables, and where a running coordinator listens."""

from __future__ import annotations

import json
from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class CoordinatorSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="DATASPACE_")

    data_dir: Path = Path("dataspace-data")
    database_url: str | None = None
    host: str = "127.0.0.1"
    grpc_port: int = 7443
    http_port: int = 8080
    # Names the nodes use to reach the coordinator; they go into its TLS certificate.
    advertise_hosts: list[str] = ["localhost", "127.0.0.1"]
    # Plain HTTP for the gateway: enrollment and bearer tokens then cross the network in clear. Local
    # experiments only; by default the gateway speaks HTTPS with the CA-issued certificate.
    insecure_http: bool = False
    round_timeout_s: float = 30.0
    # How long a set-intersection run waits for the buyer's client to answer the factories' blinded keys.
    buyer_wait_s: float = Field(default=120.0, gt=0)
    participant_wait_s: float = 20.0
    heartbeat_interval_s: float = 5.0
    # How often the audit log is checked for growth and, if it grew, a checkpoint is signed and witnessed.
    checkpoint_interval_s: float = 1.0
    # When set, every message received from nodes is appended here (for audits of what the coordinator saw).
    wire_record_dir: Path | None = None
    instance_id: str = "coordinator-1"
    # The gateway answers 413 to a request body past this many bytes, counting as the body streams in.
    max_request_bytes: int = Field(default=1024 * 1024, gt=0)
    # ... except a buyer's encrypted job input, which may be this large (a ckks-8192 context is ~34 MB).
    max_input_bytes: int = Field(default=64 * 1024 * 1024, gt=0)
    # ... and 408 to one whose body has not fully arrived this many seconds after the request began.
    request_read_timeout_s: float = Field(default=30.0, gt=0)

    @property
    def certificate_hosts(self) -> list[str]:
        """What the TLS certificate must name: the advertised hosts and a specific listening address."""
        extra = [] if self.host in ("0.0.0.0", "::") or self.host in self.advertise_hosts else [self.host]
        return [*self.advertise_hosts, *extra]

    @property
    def public_host(self) -> str:
        """How clients reach us: the first advertised name when bound to every interface, else the address."""
        return self.advertise_hosts[0] if self.host in ("0.0.0.0", "::") else self.host


def gateway_url(scheme: str, host: str, port: int) -> str:
    return f"{scheme}://[{host}]:{port}" if ":" in host else f"{scheme}://{host}:{port}"


def write_endpoints(data_dir: Path, *, grpc_target: str, http_url: str) -> None:
    """Tell local tools (CLI, demo, tests) where this coordinator listens once its ports are bound.

    ``http_url`` is the gateway's URL: ``https://`` unless the coordinator runs with ``insecure_http``.
    """
    tmp = data_dir / "endpoints.json.tmp"
    tmp.write_text(json.dumps({"grpc_target": grpc_target, "http_url": http_url}))
    tmp.replace(data_dir / "endpoints.json")


def read_endpoints(data_dir: Path) -> dict[str, str]:
    data: dict[str, str] = json.loads((data_dir / "endpoints.json").read_text())
    return data
