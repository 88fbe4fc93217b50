"""Run the coordinator: node gRPC service (mutual TLS), HTTPS gateway and job orchestrator in one loop."""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import signal
import socket

import grpc
import uvicorn

from coordinator.api.app import create_app
from coordinator.audit.store import AuditLog
from coordinator.audit.trail import AuditTrail
from coordinator.context import utc_now
from coordinator.identity.keys import (
    SERVER_CERT_FILE,
    SERVER_KEY_FILE,
    ensure_operator_token,
    load_or_create_keys,
)
from coordinator.server.diagnostics import run_diagnostic
from coordinator.server.node_service import NodeService
from coordinator.server.orchestrator import Orchestrator
from coordinator.server.runtime import ServerContext
from coordinator.server.witnesses import run_checkpointer
from coordinator.services import catalog
from coordinator.settings import CoordinatorSettings, gateway_url, write_endpoints
from coordinator.store.database import Store, make_engine
from proto.dataspace.v1 import node_service_pb2_grpc as pb_grpc

log = logging.getLogger(__name__)

# Masked vectors of 10^5..10^6 elements of 8 bytes must fit in one message.
MAX_MESSAGE_BYTES = 64 * 1024 * 1024
GRPC_OPTIONS = [
    ("grpc.max_receive_message_length", MAX_MESSAGE_BYTES),
    ("grpc.max_send_message_length", MAX_MESSAGE_BYTES),
    ("grpc.keepalive_time_ms", 20_000),
    ("grpc.keepalive_timeout_ms", 10_000),
    ("grpc.http2.max_pings_without_data", 0),
    ("grpc.keepalive_permit_without_calls", 1),
    ("grpc.http2.min_ping_interval_without_data_ms", 5_000),
]
# TLS 1.3 suites are always on; for TLS 1.2 clients, forward-secret AEAD suites only.
GATEWAY_TLS12_CIPHERS = "ECDHE+AESGCM:ECDHE+CHACHA20"


def build_context(settings: CoordinatorSettings) -> ServerContext:
    now = utc_now()
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    store = Store(make_engine(settings.database_url, settings.data_dir))
    keys = load_or_create_keys(settings.data_dir, settings.certificate_hosts, now)
    ensure_operator_token(settings.data_dir, store, now)
    audit = AuditTrail(AuditLog(store.engine, keys.log_signer.name, keys.log_signer), utc_now)
    context = ServerContext(settings=settings, store=store, keys=keys, audit=audit)
    context.run_diagnostic = functools.partial(run_diagnostic, context)
    return context


def _gateway_certificate(settings: CoordinatorSettings) -> tuple[str | None, str | None]:
    """The gateway's TLS certificate and key files, or none at all with ``insecure_http``."""
    if settings.insecure_http:
        log.warning(
            "INSECURE: the gateway speaks PLAIN HTTP (--insecure-http). Enrollment tokens, API tokens and "
            "everything else cross the network in clear and anyone on the path can read or change them. "
            "Use this for local experiments only."
        )
        return None, None
    return str(settings.data_dir / SERVER_CERT_FILE), str(settings.data_dir / SERVER_KEY_FILE)


async def serve(settings: CoordinatorSettings) -> None:
    context = build_context(settings)
    context.loop = asyncio.get_running_loop()
    requeued = context.store.requeue_interrupted(settings.instance_id, context.clock())
    if requeued:
        log.warning("requeued %d job(s) interrupted by the previous shutdown", requeued)
    indexed = catalog.index_missing(context)
    if indexed:
        log.info("indexed %d offer(s) published before the catalogue existed", indexed)

    grpc_server = grpc.aio.server(options=GRPC_OPTIONS)
    pb_grpc.add_NodeServiceServicer_to_server(NodeService(context), grpc_server)
    credentials = grpc.ssl_server_credentials(
        [(context.keys.server_key_pem, context.keys.server_cert_pem)],
        root_certificates=context.keys.ca.cert_pem,
        require_client_auth=True,
    )
    grpc_port = grpc_server.add_secure_port(f"{settings.host}:{settings.grpc_port}", credentials)
    # Bound to every interface, the first advertised name is how nodes reach us (e.g. a compose service name).
    context.grpc_target = f"{settings.public_host}:{grpc_port}"

    # IPPROTO_TCP explicitly: asyncio sets TCP_NODELAY only on sockets that name it, and without it every
    # response waits ~40 ms for the client's delayed ACK (uvicorn writes headers and body separately).
    family = socket.AF_INET6 if ":" in settings.host else socket.AF_INET
    http_socket = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    http_socket.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    http_socket.bind((settings.host, settings.http_port))
    http_port = http_socket.getsockname()[1]
    app = create_app(context)
    certfile, keyfile = _gateway_certificate(settings)
    # Idle connections are dropped and connections capped; bodies are bounded and timed by the gateway.
    config = uvicorn.Config(
        app,
        log_level="warning",
        lifespan="off",
        timeout_graceful_shutdown=2,
        timeout_keep_alive=5,
        limit_concurrency=512,
        h11_max_incomplete_event_size=16 * 1024,
        ssl_certfile=certfile,
        ssl_keyfile=keyfile,
        ssl_ciphers=GATEWAY_TLS12_CIPHERS,
    )
    http_server = uvicorn.Server(config)

    await grpc_server.start()
    orchestrator = Orchestrator(context)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)

    http_task = asyncio.create_task(http_server.serve(sockets=[http_socket]))
    orchestrator_task = asyncio.create_task(orchestrator.run())
    checkpointer_task = asyncio.create_task(run_checkpointer(context, settings.checkpoint_interval_s))
    while not http_server.started and not http_task.done():
        await asyncio.sleep(0.01)
    http_url = gateway_url("http" if settings.insecure_http else "https", settings.public_host, http_port)
    write_endpoints(settings.data_dir, grpc_target=context.grpc_target, http_url=http_url)
    log.info("coordinator up: gRPC %s (mutual TLS), gateway %s", context.grpc_target, http_url)
    print(f"coordinator listening: grpc={context.grpc_target} gateway={http_url}", flush=True)

    # uvicorn captures SIGINT/SIGTERM while it serves and then ends; either way is our cue to stop.
    stop_requested = asyncio.create_task(stop.wait())
    await asyncio.wait({stop_requested, http_task}, return_when=asyncio.FIRST_COMPLETED)
    stop_requested.cancel()
    log.info("shutting down")
    await orchestrator.stop()
    orchestrator_task.cancel()
    checkpointer_task.cancel()
    http_server.should_exit = True
    for session in context.sessions.connected():
        session.close()
    await grpc_server.stop(grace=2)
    with contextlib.suppress(asyncio.CancelledError):
        await asyncio.gather(http_task, orchestrator_task, checkpointer_task, return_exceptions=True)
    context.store.engine.dispose()
