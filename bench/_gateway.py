"""Parts of ``bench/gateway.py``: a catalogue from many factories, its bulk load, the plain baseline server
and the asyncio load generator.

Run as a script, this module is the baseline server: one constant JSON endpoint served by uvicorn with the
coordinator gateway's settings (``coordinator/server/serve.py``) and the coordinator's own certificate.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import socket
import ssl
import sys
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

import httpx  # noqa: E402
import numpy as np  # noqa: E402
from catalog import offers  # noqa: E402
from sqlalchemy import insert  # noqa: E402
from sqlmodel import Session, SQLModel  # noqa: E402

from contracts.identity import make_participant_id  # noqa: E402
from contracts.offers import DatasetOffer  # noqa: E402
from coordinator.services.catalog import catalog_rows  # noqa: E402
from coordinator.store.database import Store  # noqa: E402
from coordinator.store.tables import CatalogEntryRow, CatalogTermRow, OfferRow  # noqa: E402
from tests.contracts.test_offers import NOW  # noqa: E402

PLAIN_PATH = "/plain"


# ------------------------------------------------------------------------------------------ catalogue


def provider_id(index: int) -> str:
    return make_participant_id(f"91320500MA2F{index:05d}")


def marketplace(count: int, factories: int, now: datetime) -> list[DatasetOffer]:
    """``bench/catalog.py``'s offers, spread over ``factories`` providers and moved to be valid at ``now``.

    The served coordinator reads the real clock, so the offers' validity (made around a fixed day in the
    past) is shifted by whole days to start ten days before ``now``.
    """
    shift = timedelta(days=(now - NOW).days)
    moved = []
    for index, offer in enumerate(offers(count)):
        document = offer.model_dump() | {
            "provider": provider_id(index % factories),
            "not_before": offer.not_before + shift,
            "not_after": offer.not_after + shift,
        }
        moved.append(DatasetOffer.model_validate(document))
    return moved


def bulk_fill(store: Store, catalogue: list[DatasetOffer], now: datetime) -> None:
    """Store every offer with the rows publishing writes (``catalog_rows``), in one transaction.

    ``Store.add_offer`` writes the same rows one offer per transaction (about 15 s for 10,000 offers on
    SQLite); one multi-row INSERT per table takes about 4 s. Offers are published a minute apart.
    """
    rows: dict[type[SQLModel], list[SQLModel]] = {OfferRow: [], CatalogEntryRow: [], CatalogTermRow: []}
    for index, offer in enumerate(catalogue):
        published = now - timedelta(minutes=len(catalogue) - index)
        rows[OfferRow].append(
            OfferRow(
                offer_id=offer.offer_id,
                provider=offer.provider,
                dataset=offer.dataset,
                offer_text=offer.model_dump_json(),
                published_at=published,
            )
        )
        entry, terms = catalog_rows(offer, published)
        rows[CatalogEntryRow].append(entry)
        rows[CatalogTermRow] += terms
    with Session(store.engine) as session:
        for model, made in rows.items():
            columns = [column.name for column in model.__table__.columns]  # type: ignore[attr-defined]
            session.execute(insert(model), [{c: getattr(row, c) for c in columns} for row in made])
        session.commit()


# --------------------------------------------------------------------------------------------- load


@dataclass
class Measured:
    latencies_ms: list[float]
    seconds: float
    client_cpu: float  # share of one core the load generator used
    server_cpu: float | None  # share of one core the server process used (Linux)
    server_peak_mb: float | None  # the server process's peak resident memory so far (Linux)

    def summary(self) -> dict[str, Any]:
        p50, p99 = np.percentile(self.latencies_ms, [50, 99])
        return {
            "requests": len(self.latencies_ms),
            "p50_ms": round(float(p50), 2),
            "p99_ms": round(float(p99), 2),
            "rps": round(len(self.latencies_ms) / self.seconds, 1),
            "client_cpu": round(self.client_cpu, 2),
            "server_cpu": None if self.server_cpu is None else round(self.server_cpu, 2),
            "server_peak_mb": self.server_peak_mb,
        }


async def load(
    base_url: str,
    paths: list[str],
    *,
    clients: int,
    seconds: float,
    verify: ssl.SSLContext,
    warm: Sequence[str],
    token: str | None = None,
    server_pid: int | None = None,
) -> Measured:
    """``clients`` connections, each sending ``paths`` in turn back to back for ``seconds``; each answer 200.

    Every client has its own keep-alive connection, opened (TLS handshake) by asking each of ``warm``
    before the clock starts. Requests under way at the end are waited for and counted.
    """
    headers = {"authorization": f"Bearer {token}"} if token else {}
    sessions = [
        httpx.AsyncClient(
            base_url=base_url,
            verify=verify,
            headers=headers,
            timeout=120,
            limits=httpx.Limits(max_connections=1),
        )
        for _ in range(clients)
    ]
    try:
        await asyncio.gather(*(_get(s, *warm) for s in sessions))
        latencies: list[float] = []
        cpu, server, started = time.process_time(), _cpu_seconds(server_pid), time.perf_counter()
        deadline = started + seconds

        async def client(session: httpx.AsyncClient, first: int) -> None:
            turn = first
            while time.perf_counter() < deadline:
                sent = time.perf_counter()
                await _get(session, paths[turn % len(paths)])
                latencies.append((time.perf_counter() - sent) * 1000)
                turn += 1

        await asyncio.gather(*(client(s, i) for i, s in enumerate(sessions)))
        wall = time.perf_counter() - started
        served = _cpu_seconds(server_pid)
        server_cpu = None if served is None or server is None else (served - server) / wall
        client_cpu = (time.process_time() - cpu) / wall
        return Measured(latencies, wall, client_cpu, server_cpu, _peak_mb(server_pid))
    finally:
        await asyncio.gather(*(s.aclose() for s in sessions))


async def _get(session: httpx.AsyncClient, *paths: str) -> None:
    for path in paths:
        response = await session.get(path)
        if response.status_code != 200:
            raise RuntimeError(f"GET {path}: {response.status_code} {response.text[:300]}")


def _peak_mb(pid: int | None) -> float | None:
    """Peak resident memory of process ``pid`` (VmHWM), from /proc; None where there is none."""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return None
    kilobytes = next((line.split()[1] for line in status.splitlines() if line.startswith("VmHWM:")), None)
    return None if kilobytes is None else round(int(kilobytes) / 1024, 1)


def _cpu_seconds(pid: int | None) -> float | None:
    """User and system CPU time of process ``pid`` so far, from /proc; None where there is none."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


# -------------------------------------------------------------------------------------- baseline


def plain_app() -> Any:
    from fastapi import FastAPI

    app = FastAPI()

    @app.get(PLAIN_PATH)
    def plain() -> dict[str, Any]:  # sync, like the gateway's routes: FastAPI runs it in its thread pool
        return {"status": "ok", "value": 42}

    return app


async def serve_plain(certfile: str, keyfile: str, endpoints: Path) -> None:
    """Serve ``plain_app`` over HTTPS with the gateway's uvicorn settings; write its URLs to ``endpoints``.

    It listens twice. ``as_deployed`` makes its socket as ``coordinator/server/serve.py`` does,
    ``socket.socket(AF_INET)``: protocol 0, on which asyncio does not set TCP_NODELAY on the accepted
    connections. ``nodelay`` makes it with ``IPPROTO_TCP``, on which asyncio does.
    """
    import uvicorn

    from coordinator.server.serve import GATEWAY_TLS12_CIPHERS

    sockets = {"as_deployed": socket.socket(socket.AF_INET)}
    sockets["nodelay"] = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    for sock in sockets.values():
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(("127.0.0.1", 0))
    # The settings of the gateway's (coordinator/server/serve.py), which builds its Config inline.
    config = uvicorn.Config(
        plain_app(),
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
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve(sockets=list(sockets.values())))
    while not server.started and not task.done():
        await asyncio.sleep(0.01)
    urls = {name: f"https://127.0.0.1:{sock.getsockname()[1]}" for name, sock in sockets.items()}
    endpoints.write_text(json.dumps(urls))
    await task


def iter_pages(params: dict[str, Any], pages: int, limit: int) -> Iterator[str]:
    """The catalogue path of each of the first ``pages`` pages of ``params``."""
    for page in range(pages):
        query = httpx.QueryParams({**params, "limit": limit, "offset": page * limit})
        yield f"/api/v1/catalog?{query}"


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description="the plain baseline server of bench/gateway.py")
    parser.add_argument("--cert", required=True)
    parser.add_argument("--key", required=True)
    parser.add_argument("--endpoints", type=Path, required=True)
    args = parser.parse_args()
    asyncio.run(serve_plain(args.cert, args.key, args.endpoints))
