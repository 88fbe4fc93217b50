"""A whole data space on this machine: one coordinator process and N factory-node processes on loopback.

Used by ``dataspace demo``, the end-to-end tests and the benchmarks. Every part is a real process talking
real gRPC over mutual TLS, and the gateway speaks HTTPS (plain HTTP only with ``insecure_http``);
factories are set up with the ``dataspace-node`` command, as a factory would, and buyers enroll from
their token's CA pin.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import ssl
import subprocess
import sys
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from contracts.identity import make_participant_id
from coordinator.client.enrollment import enroll_buyer
from coordinator.client.gateway import GatewayClient
from coordinator.client.trust import trusting


def factory_id(index: int) -> str:
    """A valid, checksummed unified social credit code for sample factory ``index``."""
    return make_participant_id(f"913205{index:02d}MA1X2Y3L4")


BUYER_ID = make_participant_id("91110000MA01BUY7R")


@dataclass
class Factory:
    index: int
    participant_id: str
    directory: Path
    data_file: Path
    process: subprocess.Popen[bytes] | None = None


@dataclass
class LocalSpace:
    workdir: Path
    extra_env: dict[str, str] = field(default_factory=dict)
    coordinator_args: list[str] = field(default_factory=list)
    # The module run as the coordinator: tests put a deliberately dishonest coordinator here.
    coordinator_module: str = "coordinator"
    coordinator: subprocess.Popen[bytes] | None = None
    factories: list[Factory] = field(default_factory=list)
    http_url: str = ""  # the gateway's URL: https:// unless insecure_http
    # Plain HTTP for the gateway (``coordinator serve --insecure-http``); every client is told so.
    insecure_http: bool = False
    _buyer: tuple[str, Ed25519PrivateKey | None, str | None] | None = None

    @property
    def coordinator_dir(self) -> Path:
        return self.workdir / "coordinator"

    @property
    def ca_pem(self) -> bytes:
        """The operator CA, from the coordinator's own data directory (the operator's files)."""
        return (self.coordinator_dir / "ca.crt").read_bytes()

    def tls_context(self) -> ssl.SSLContext:
        """A TLS client context that trusts this space's operator CA alone."""
        return trusting(self.ca_pem)

    def client(
        self,
        token: str | None = None,
        *,
        participant_id: str | None = None,
        signing_key: Ed25519PrivateKey | None = None,
    ) -> GatewayClient:
        """A gateway session verified against the operator CA (or plain HTTP when the space runs so)."""
        return GatewayClient(
            self.http_url,
            token,
            ca_pem=self.ca_pem,
            insecure_http=self.insecure_http,
            participant_id=participant_id,
            signing_key=signing_key,
        )

    def operator(self) -> GatewayClient:
        token = (self.coordinator_dir / "operator.token").read_text().strip()
        return self.client(token)

    # -- coordinator --------------------------------------------------------------------------
    def start_coordinator(self, timeout: float = 60.0, *, grpc_port: str = "0", http_port: str = "0") -> None:
        self.coordinator_dir.mkdir(parents=True, exist_ok=True)
        endpoints = self.coordinator_dir / "endpoints.json"
        endpoints.unlink(missing_ok=True)
        log = self.coordinator_dir / "coordinator.log"
        with log.open("ab") as sink:  # the child keeps its own descriptor
            self.coordinator = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    self.coordinator_module,
                    "coordinator",
                    "serve",
                    "--data-dir",
                    str(self.coordinator_dir),
                    "--grpc-port",
                    grpc_port,
                    "--http-port",
                    http_port,
                    *(["--insecure-http"] if self.insecure_http else []),
                    *self.coordinator_args,
                ],
                stdout=sink,
                stderr=subprocess.STDOUT,
                env=self._env(),
                start_new_session=True,
            )
        deadline = time.monotonic() + timeout
        while not endpoints.exists():
            if self.coordinator.poll() is not None:
                raise RuntimeError(f"coordinator exited with {self.coordinator.returncode}; see {log}")
            if time.monotonic() > deadline:
                raise TimeoutError("coordinator did not start in time")
            time.sleep(0.05)
        self.http_url = json.loads(endpoints.read_text())["http_url"]

    def stop_coordinator(self) -> None:
        terminate(self.coordinator)
        self.coordinator = None

    def restart_coordinator(self, *, crash: bool) -> None:
        """Stop (SIGKILL when ``crash``) and start again on the same ports, so enrolled nodes find it."""
        endpoints = json.loads((self.coordinator_dir / "endpoints.json").read_text())
        if crash and self.coordinator is not None:
            self.coordinator.kill()
            self.coordinator.wait()
        self.stop_coordinator()
        grpc_port = endpoints["grpc_target"].rsplit(":", 1)[1]
        http_port = self.http_url.rsplit(":", 1)[1]
        self.start_coordinator(grpc_port=grpc_port, http_port=http_port)

    # -- factories ----------------------------------------------------------------------------
    def add_factory(
        self,
        index: int,
        rows: int,
        *,
        accept: str = "*",
        auto_approve: str | None = "*",
        own_data: Mapping[str, Path] | None = None,
    ) -> Factory:
        """Generate the factory's data, write its config, and enroll it (the node is not started).

        ``own_data`` adds the factory's own files (``init --data NAME=FILE``), to confirm before starting.
        """
        pid = factory_id(index)
        directory = self.workdir / "factories" / f"factory-{index + 1}"
        data_file = directory / "data" / "steel_production.csv"
        self._node_cli(
            "sample-data",
            "--output",
            str(data_file),
            "--rows",
            str(rows),
            "--seed",
            str(1000 + index),
            "--factory",
            str(index),
        )
        self._node_cli(
            "init",
            str(directory),
            "--participant-id",
            pid,
            "--name",
            f"factory-{index + 1}",
            "--dataset",
            f"steel_production={data_file}",
            *[arg for name, path in (own_data or {}).items() for arg in ("--data", f"{name}={path}")],
            "--accept-buyer",
            accept,
            *(["--auto-approve", auto_approve] if auto_approve else []),
            "--force",
        )
        return self._enroll(Factory(index, pid, directory, data_file))

    def add_factory_from_files(
        self,
        index: int,
        files: Mapping[str, Path],
        *,
        accept: str = "*",
        auto_approve: str | None = "*",
    ) -> Factory:
        """Describe the factory's own files with ``dataspace-node init --data``; enroll it (not started).

        ``files`` maps dataset names to files, which should lie in the factory's directory (``factory_dir``)
        as the config names them relatively; the factory's ``data_file`` is the first.
        """
        pid = factory_id(index)
        directory = self.factory_dir(index)
        data = [arg for name, path in files.items() for arg in ("--data", f"{name}={path}")]
        self._node_cli(
            "init", str(directory), "--participant-id", pid, "--name", f"factory-{index + 1}",
            *data, "--accept-buyer", accept,
            *(["--auto-approve", auto_approve] if auto_approve else []), "--force",
        )  # fmt: skip
        return self._enroll(Factory(index, pid, directory, next(iter(files.values()))))

    def confirm(self, factory: Factory, dataset: str) -> None:
        """``dataspace-node confirm``: the factory accepts the (edited) description of its own dataset."""
        self._node_cli("confirm", dataset, "--dir", str(factory.directory))

    def factory_dir(self, index: int) -> Path:
        return self.workdir / "factories" / f"factory-{index + 1}"

    def _enroll(self, factory: Factory) -> Factory:
        with self.operator() as operator:
            token = operator.create_enrollment_token(factory.participant_id, "factory")
        insecure = ["--insecure-http"] if self.insecure_http else []
        directory = factory.directory
        self._node_cli(
            "enroll", "--dir", str(directory), "--coordinator", self.http_url, "--token", token, *insecure
        )
        self.factories.append(factory)
        return factory

    def start_node(
        self, factory: Factory, env: dict[str, str] | None = None, *, module: str = "node"
    ) -> None:
        """Start the node process; ``module`` is what runs as the node (tests use one that dies on cue)."""
        with (factory.directory / "node.log").open("ab") as sink:
            factory.process = subprocess.Popen(
                [sys.executable, "-m", module, "run", "--dir", str(factory.directory)],
                stdout=sink,
                stderr=subprocess.STDOUT,
                env=self._env(env or {}),
                start_new_session=True,
            )

    def wait_for_nodes(self, count: int, timeout: float = 60.0) -> None:
        with self.operator() as operator:
            operator.wait_for_nodes(count, timeout=timeout)

    def wait_for_nodes_exactly(self, count: int, timeout: float = 60.0) -> None:
        """Wait until exactly ``count`` nodes are connected (e.g. after stopping one)."""
        deadline = time.monotonic() + timeout
        with self.operator() as operator:
            while len(operator.nodes()) != count:
                if time.monotonic() > deadline:
                    raise TimeoutError(f"expected {count} connected nodes")
                time.sleep(0.1)

    def enroll_buyer(self, participant_id: str = BUYER_ID) -> GatewayClient:
        """A buyer's SDK session; it holds the buyer's contract-signing key.

        The buyer enrolls as one elsewhere would: from its token's CA pin, not from the operator's files.
        """
        key = Ed25519PrivateKey.generate()
        with self.operator() as operator:
            token = operator.create_enrollment_token(participant_id, "buyer")
        enrolled = enroll_buyer(
            self.http_url, token, key.public_key(), now=datetime.now(UTC), insecure_http=self.insecure_http
        )
        return GatewayClient(
            self.http_url,
            enrolled.api_token,
            ca_pem=enrolled.ca_pem,
            insecure_http=self.insecure_http,
            participant_id=participant_id,
            signing_key=key,
        )

    def buyer(self) -> GatewayClient:
        """A session of the space's default buyer, whose contract covers every factory (made on first use)."""
        if self._buyer is None:
            with self.contracted_buyer() as first:
                self._buyer = (first.token or "", first.signing_key, first.contract_id)
        token, key, contract_id = self._buyer
        client = self.client(token, participant_id=BUYER_ID, signing_key=key)
        client.contract_id = contract_id
        return client

    def contracted_buyer(self, participant_id: str = BUYER_ID, *publish_args: str) -> GatewayClient:
        """A buyer with a FINALIZED contract over every factory's offer, used by default for its jobs."""
        args = publish_args or ("--purpose", "quality_improvement")
        purpose = args[list(args).index("--purpose") + 1] if "--purpose" in args else "quality_improvement"
        offer_ids = [self.publish(factory, *args) for factory in self.factories]
        buyer = self.enroll_buyer(participant_id)
        buyer.contract_id = buyer.negotiate(offer_ids, purpose)
        return buyer

    def publish(self, factory: Factory, *args: str, dataset: str = "steel_production") -> str:
        """Publish the factory's dataset offer with ``dataspace-node publish``; return the offer id."""
        out = self._node_cli("publish", dataset, "--dir", str(factory.directory), "--json", *args)
        return str(json.loads(out)["offer_id"])

    def stop(self) -> None:
        for factory in self.factories:
            terminate(factory.process)
            factory.process = None
        self.stop_coordinator()

    def _node_cli(self, *args: str) -> str:
        result = subprocess.run(
            [sys.executable, "-m", "node", *args], capture_output=True, env=self._env(), check=False
        )
        if result.returncode != 0:
            raise RuntimeError(f"dataspace-node {args[0]} failed: {result.stderr.decode()[-2000:]}")
        return result.stdout.decode()

    def _env(self, extra: dict[str, str] | None = None) -> dict[str, str]:
        env = dict(os.environ)
        env.setdefault("DATASPACE_LOG_LEVEL", "INFO")
        env.setdefault("DATASPACE_RECONNECT_MAX_S", "1")  # one machine: a restarted coordinator is found fast
        env.update(self.extra_env)
        env.update(extra or {})
        return env


def terminate(process: subprocess.Popen[bytes] | None, timeout: float = 10.0) -> None:
    if process is None or process.poll() is not None:
        return
    process.send_signal(signal.SIGTERM)
    try:
        process.wait(timeout)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            process.kill()
        process.wait()
