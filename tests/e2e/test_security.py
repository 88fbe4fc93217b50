"""What the coordinator refuses, and what it never sees."""

from __future__ import annotations

import asyncio
import contextlib
import json
import struct
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import grpc
import httpx
import numpy as np
import pytest
from cryptography.hazmat.primitives import serialization

from contracts.jobspec import JobSpec
from coordinator.identity import pki
from coordinator.localspace.harness import LocalSpace, factory_id
from node.config import load_config
from node.local_compute import local_vector
from proto.dataspace.v1 import node_service_pb2 as pb
from proto.dataspace.v1 import node_service_pb2_grpc as pb_grpc
from protocols import fixedpoint

pytestmark = pytest.mark.e2e
NOW = datetime.now(UTC)


def _client_cert(ca: pki.OperatorCA, participant_id: str, now: datetime) -> tuple[bytes, bytes]:
    key = pki.new_private_key()
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes
    from cryptography.x509.oid import NameOID

    csr = (
        x509.CertificateSigningRequestBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "x")]))
        .sign(key, hashes.SHA256())
    )
    cert = pki.sign_participant_csr(
        ca,
        csr.public_bytes(serialization.Encoding.PEM),
        participant_id=participant_id,
        role="factory",
        now=now,
        validity=timedelta(days=1),
    )
    return pki.key_pem(key), cert.public_bytes(serialization.Encoding.PEM)


def _connect(space: LocalSpace, key_pem: bytes, cert_pem: bytes) -> grpc.StatusCode:
    """Open the node stream with the given client identity; return the status it ends with."""
    endpoints = json.loads((space.coordinator_dir / "endpoints.json").read_text())
    ca_pem = (space.coordinator_dir / "ca.crt").read_bytes()

    async def attempt() -> grpc.StatusCode:
        credentials = grpc.ssl_channel_credentials(ca_pem, key_pem, cert_pem)
        async with grpc.aio.secure_channel(endpoints["grpc_target"], credentials) as channel:
            call = pb_grpc.NodeServiceStub(channel).Connect()
            with contextlib.suppress(grpc.aio.AioRpcError, asyncio.InvalidStateError):
                await call.write(pb.NodeMessage(hello=pb.Hello()))
            try:
                async for _message in call:
                    return grpc.StatusCode.OK
            except grpc.aio.AioRpcError as error:
                return error.code()
        return grpc.StatusCode.OK

    return asyncio.run(asyncio.wait_for(attempt(), 20))


def test_client_with_certificate_from_another_ca_is_refused(space: LocalSpace) -> None:
    foreign = pki.create_ca("someone else's CA", NOW)
    assert _connect(space, *_client_cert(foreign, space.factories[0].participant_id, NOW)) == (
        grpc.StatusCode.UNAVAILABLE
    )


def test_expired_certificate_from_the_right_ca_is_refused(space: LocalSpace) -> None:
    ca = pki.load_or_create_ca(space.coordinator_dir, NOW)
    key_pem, cert_pem = _client_cert(ca, space.factories[0].participant_id, NOW - timedelta(days=3))
    assert _connect(space, key_pem, cert_pem) == grpc.StatusCode.UNAVAILABLE


def test_valid_certificate_of_a_participant_not_enrolled_is_refused(space: LocalSpace) -> None:
    ca = pki.load_or_create_ca(space.coordinator_dir, NOW)
    assert _connect(space, *_client_cert(ca, factory_id(77), NOW)) == grpc.StatusCode.PERMISSION_DENIED


def test_superseded_certificate_of_an_enrolled_factory_is_refused(space: LocalSpace) -> None:
    ca = pki.load_or_create_ca(space.coordinator_dir, NOW)
    key_pem, cert_pem = _client_cert(ca, space.factories[0].participant_id, NOW)
    assert _connect(space, key_pem, cert_pem) == grpc.StatusCode.PERMISSION_DENIED


def test_reused_enrollment_token_is_refused(space: LocalSpace, tmp_path: Path) -> None:
    with space.operator() as operator:
        token = operator.create_enrollment_token(factory_id(50), "factory")
    node_dir = space.factories[0].directory
    body = {"token": token, "csr_pem": _csr()}
    first = httpx.post(f"{space.http_url}/api/v1/enroll", json=body, verify=space.tls_context())
    assert first.status_code == 200
    second = subprocess.run(
        [
            sys.executable,
            "-m",
            "node",
            "enroll",
            "--dir",
            str(node_dir),
            "--coordinator",
            space.http_url,
            "--token",
            token,
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    assert second.returncode == 2
    assert "token_used" in second.stderr and "already used" in second.stderr
    raw = httpx.post(f"{space.http_url}/api/v1/enroll", json=body, verify=space.tls_context())
    assert raw.status_code == 409
    assert raw.json()["error"]["code"] == "token_used"


def _csr() -> str:
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes
    from cryptography.x509.oid import NameOID

    key = pki.new_private_key()
    csr = (
        x509.CertificateSigningRequestBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "x")]))
        .sign(key, hashes.SHA256())
    )
    return csr.public_bytes(serialization.Encoding.PEM).decode()


def test_marker_in_one_nodes_input_never_reaches_the_coordinator(space: LocalSpace) -> None:
    """Nothing the coordinator received or stored contains a planted row, nor that node's own statistics."""
    spec = {"kind": "variance", "dataset": "steel_production", "field": "furnace_temp_c", "group_by": "line"}
    planted = space.factories[0]
    # DuckDB reads the file in place at job time, so planting now is enough.
    marker_name, marker_value = "MARKER-操作员-7f3a", 1777.125
    lines = planted.data_file.read_text(encoding="utf-8").splitlines()
    header = lines[0].split(",")
    cells = lines[1].split(",")
    cells[header.index("operator_name")] = marker_name
    cells[header.index("furnace_temp_c")] = repr(marker_value)
    lines[1] = ",".join(cells)
    planted.data_file.write_text("\n".join(lines) + "\n", encoding="utf-8")

    with space.buyer() as buyer:
        job = buyer.wait(buyer.submit_job(spec)["id"], timeout=120)
        assert job["state"] == "SUCCEEDED", job["reason"]

    config = load_config(planted.directory / "node.toml")
    dataset = config.dataset("steel_production")
    own = local_vector(JobSpec.model_validate(spec), dataset.schema, dataset.paths, dataset.format)
    encoded = fixedpoint.encode(own, scale_bits=16, ring_bits=64, max_parties=4)
    secrets_of_node = [
        marker_name.encode(),
        repr(marker_value).encode(),
        struct.pack("<d", marker_value),
        struct.pack("<q", round(marker_value * 2**16)),
        *(v.tobytes() for v in encoded if int(v) not in (0,)),
        *(struct.pack("<d", float(v)) for v in own if float(v) != 0.0),
    ]
    wire = b"".join(p.read_bytes() for p in sorted((space.workdir / "wire").glob("*.bin")))
    assert len(wire) > 0, "the coordinator recorded what it received"
    stored = b"".join(p.read_bytes() for p in space.coordinator_dir.rglob("*") if p.is_file())
    assert len(wire) > encoded.nbytes  # the masked vectors did arrive: there was something to search
    # An 8-byte pattern of mostly zero bytes (a small count, a round float) turns up in database pages by
    # chance; only patterns with at least four non-zero bytes are evidence.
    distinctive = [secret for secret in secrets_of_node if sum(b != 0 for b in secret) >= 4]
    assert len(distinctive) >= 4
    for secret in distinctive:
        assert secret not in wire
        assert secret not in stored
    assert np.count_nonzero(encoded) > 0
