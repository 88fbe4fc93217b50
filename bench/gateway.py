"""The gateway under load: catalogue search and demand matching on a served coordinator, against FastAPI.

Setup, in a temporary directory: ``bench/catalog.py``'s offers (10,000 by default), spread over 500 factories
and moved to be valid today, are written into the coordinator's SQLite database before it starts, with the
rows publishing writes (``catalog_rows``: the offer, its catalogue entry and terms) in one transaction of
multi-row INSERTs (``_gateway.bulk_fill``; ``Store.add_offer``, one transaction per offer, takes ~15 s more).
Then a real coordinator process started as the tests start it (``dataspace coordinator serve`` through
``coordinator.localspace.harness``: uvicorn, HTTPS under its own CA), a buyer enrolled through the gateway
and one demand it posts. The baseline is a plain FastAPI endpoint returning a small constant JSON, served by
uvicorn with the gateway's settings, socket and TLS certificate in a process of its own
(``bench/_gateway.py``), which also serves it on a socket with TCP_NODELAY to show what Nagle costs.

One client, then 50 (``--clients``), send back to back for ``--seconds`` each, every client on its own
keep-alive connection (httpx on asyncio, opened before the clock starts): the plain endpoint, the
coordinator's ``/healthz`` (its app without token or database), ``GET /api/v1/catalog`` with a tag, a region
and a kind (pages 1 to 5 in turn), and ``GET /api/v1/demands/{id}/matches`` for a demand thousands of offers
fit. Prints p50, p99, req/s and their ratios to the plain endpoint; writes bench/results/gateway.json
(``--quick``: a small catalogue and short runs, written to gateway-quick.json). ``--profile`` then runs
cProfile on the two service functions in this process, on the same database.
Usage: python bench/gateway.py [--quick] [--offers N] [--factories F] [--seconds S] [--clients C] [--profile]
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import json
import os
import pstats
import ssl
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from types import SimpleNamespace
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from _gateway import PLAIN_PATH, bulk_fill, iter_pages, load, marketplace  # noqa: E402

from coordinator.localspace.harness import LocalSpace, terminate  # noqa: E402
from coordinator.services import catalog, demands  # noqa: E402
from coordinator.store.database import Store, make_engine  # noqa: E402

TARGET_P99_MS = 50.0
CATALOG_QUERY = {"tag": "speed", "region": "DE", "kind": "mean"}
DEMAND = {
    "tags": ["temperature"],
    "optional_tags": ["throughput"],
    "job_kinds": ["mean"],
    "purpose": "research",
    "region": "CN",
}
PAGES, PAGE_SIZE = 5, 20
BASELINE = "plain FastAPI"


@dataclass(frozen=True)
class Endpoint:
    name: str
    url: str
    paths: list[str]
    warm: str  # what opens a client's connection before the clock starts: a cheap request
    pid: int | None  # the serving process, whose CPU time is read


def endpoints(
    space: LocalSpace, plain: subprocess.Popen[bytes], urls: dict[str, str], demand: str
) -> list[Endpoint]:
    pid, url = space.coordinator.pid if space.coordinator else None, space.http_url
    catalogue = list(iter_pages(CATALOG_QUERY, PAGES, PAGE_SIZE))
    return [
        Endpoint(BASELINE, urls["as_deployed"], [PLAIN_PATH], PLAIN_PATH, plain.pid),
        Endpoint("plain, TCP_NODELAY", urls["nodelay"], [PLAIN_PATH], PLAIN_PATH, plain.pid),
        Endpoint("coordinator /healthz", url, ["/healthz"], "/healthz", pid),
        Endpoint("catalogue search", url, catalogue, "/healthz", pid),
        Endpoint("demand matches", url, [f"/api/v1/demands/{demand}/matches"], "/healthz", pid),
    ]


def start_plain(space: LocalSpace) -> tuple[subprocess.Popen[bytes], dict[str, str]]:
    """The baseline server, with the coordinator's certificate: its process and its two URLs."""
    endpoints, data = space.workdir / "plain.json", space.coordinator_dir
    process = subprocess.Popen(
        [
            sys.executable,
            str(ROOT / "bench" / "_gateway.py"),
            "--cert",
            str(data / "server.crt"),
            "--key",
            str(data / "server.key"),
            "--endpoints",
            str(endpoints),
        ],
        start_new_session=True,
    )
    deadline = time.monotonic() + 30
    while not endpoints.exists():
        if process.poll() is not None or time.monotonic() > deadline:
            terminate(process)
            raise RuntimeError("the plain server did not start")
        time.sleep(0.05)
    return process, json.loads(endpoints.read_text())


async def measure(
    endpoints: list[Endpoint], verify: ssl.SSLContext, token: str, args: argparse.Namespace
) -> list[dict[str, Any]]:
    """Each endpoint at one client and at ``args.clients``; its paths are asked once beforehand."""
    rows = []
    for endpoint in endpoints:
        await load(
            endpoint.url,
            endpoint.paths,
            clients=1,
            seconds=0,
            verify=verify,
            warm=endpoint.paths,
            token=token,
        )
        for clients in (1, args.clients):
            measured = await load(
                endpoint.url,
                endpoint.paths,
                clients=clients,
                seconds=args.seconds,
                verify=verify,
                warm=[endpoint.warm],
                token=token,
                server_pid=endpoint.pid,
            )
            rows.append({"endpoint": endpoint.name, "clients": clients, **measured.summary()})
            found = rows[-1]
            print(
                f"  {endpoint.name:<24}{clients:>3} clients: p50 {found['p50_ms']} ms, "
                f"p99 {found['p99_ms']} ms, {found['rps']} req/s",
                flush=True,
            )
    base = {r["clients"]: r for r in rows if r["endpoint"] == BASELINE}
    for row in rows:
        plain = base[row["clients"]]
        row["p50_x_plain"] = round(row["p50_ms"] / plain["p50_ms"], 2)
        row["p99_x_plain"] = round(row["p99_ms"] / plain["p99_ms"], 2)
        row["rps_share_of_plain"] = round(row["rps"] / plain["rps"], 4)
    return rows


def setup(space: LocalSpace, args: argparse.Namespace) -> tuple[str, str, int]:
    """Fill the database, start the coordinator, enroll a buyer and post the demand: (token, demand, fits)."""
    started = time.perf_counter()
    now = datetime.now(UTC)
    store = Store(make_engine(None, space.coordinator_dir))
    bulk_fill(store, marketplace(args.offers, args.factories, now), now)
    store.engine.dispose()
    print(
        f"{args.offers:,} offers of {args.factories} factories stored in "
        f"{time.perf_counter() - started:.1f} s"
    )
    space.start_coordinator()
    with space.enroll_buyer() as buyer:
        demand_id = str(buyer.create_demand(DEMAND)["demand_id"])
        wanted = {
            "tag": DEMAND["tags"],
            "kind": DEMAND["job_kinds"],
            "purpose": DEMAND["purpose"],
            "region": DEMAND["region"],
            "limit": 1,
        }
        candidates = int(buyer.catalog(**wanted)["total"])
        cohorts = buyer.demand_matches(demand_id)
        if not cohorts or buyer.catalog(**CATALOG_QUERY)["total"] <= PAGES * PAGE_SIZE:
            raise RuntimeError("the catalogue is too small for the benchmark's queries")
        return str(buyer.token), demand_id, candidates


def profile(space: LocalSpace, demand_id: str) -> None:
    """cProfile of ``catalog.search`` and ``demands.matches`` in this process, on the benchmark's database."""
    store = Store(make_engine(None, space.coordinator_dir))
    context: Any = SimpleNamespace(store=store, clock=lambda: datetime.now(UTC))
    stored = demands.visible(context, demand_id, "", is_operator=True)
    query = catalog.CatalogQuery.model_validate(
        {**CATALOG_QUERY, "kind": [CATALOG_QUERY["kind"]], "tag": [CATALOG_QUERY["tag"]], "offset": PAGE_SIZE}
    )
    actions: list[tuple[str, Callable[[], object], int]] = [
        ("catalog.search + JSON", lambda: catalog.search(context, query).model_dump_json(), 50),
        (
            "demands.matches + JSON",
            lambda: [c.model_dump_json() for c in demands.matches(context, stored, 10)],
            5,
        ),
    ]
    for name, action, repeats in actions:
        action()
        profiler = cProfile.Profile()
        started = time.perf_counter()
        for _ in range(repeats):
            profiler.runcall(action)
        each = (time.perf_counter() - started) / repeats * 1000
        print(
            f"\n--- {name}: {each:.1f} ms a call under the profiler; top by cumulative time, "
            f"of {repeats} calls"
        )
        stats = pstats.Stats(profiler).sort_stats("cumulative")
        stats.print_stats(r"coordinator/|contracts/|sqlite3|validate_json|pydantic/main", 22)
    store.engine.dispose()


def report(rows: list[dict[str, Any]], args: argparse.Namespace, candidates: int) -> dict[str, Any]:
    print(
        f"\nGateway over HTTPS, {args.offers:,} offers from {args.factories} factories; "
        f"{args.seconds:g} s a run;"
        f" the demand fits {candidates:,} offers"
    )
    head = (
        f"{'endpoint':<22}{'clients':>8}{'n':>7}{'p50 ms':>9}{'p99 ms':>9}{'req/s':>8}"
        f"{'p50×plain':>11}{'p99×plain':>11}{'req/s %plain':>14}{'server CPU':>12}{'client CPU':>12}"
        f"{'server peak MB':>16}"
    )
    print(head)
    for r in rows:
        server = "-" if r["server_cpu"] is None else f"{r['server_cpu']:.0%}"
        print(
            f"{r['endpoint']:<22}{r['clients']:>8}{r['requests']:>7}{r['p50_ms']:>9.1f}{r['p99_ms']:>9.1f}"
            f"{r['rps']:>8.0f}{r['p50_x_plain']:>10.1f}×{r['p99_x_plain']:>10.1f}×"
            f"{r['rps_share_of_plain']:>13.1%}{server:>12}{r['client_cpu']:>12.0%}"
            f"{r['server_peak_mb'] or '-':>16}"
        )
    verdicts = {}
    for name in ("catalogue search", "demand matches"):
        p99 = next(r["p99_ms"] for r in rows if r["endpoint"] == name and r["clients"] == 1)
        verdicts[name] = {"p99_ms_one_client": p99, "met": p99 < TARGET_P99_MS}
        verdict = "met" if p99 < TARGET_P99_MS else "MISSED"
        print(f"target p99 < {TARGET_P99_MS:g} ms at one client: {name} {p99:.1f} ms, {verdict}")
    return {"target_p99_ms": TARGET_P99_MS, "targets": verdicts}


def write(args: argparse.Namespace, rows: list[dict[str, Any]], extra: dict[str, Any]) -> None:
    out = ROOT / "bench" / "results" / ("gateway-quick.json" if args.quick else "gateway.json")
    out.parent.mkdir(parents=True, exist_ok=True)
    document = {
        "offers": args.offers,
        "factories": args.factories,
        "seconds": args.seconds,
        "catalogue_query": CATALOG_QUERY,
        "demand": DEMAND,
        **extra,
        "results": rows,
    }
    out.write_text(json.dumps(document, indent=2, ensure_ascii=False))
    print(f"wrote {out.relative_to(ROOT)}")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--offers", type=int, default=10_000)
    parser.add_argument("--factories", type=int, default=500)
    parser.add_argument("--seconds", type=float, default=6.0, help="how long each endpoint and load runs")
    parser.add_argument("--clients", type=int, default=50)
    parser.add_argument("--quick", action="store_true", help="1,000 offers, 10 clients, 1 s runs")
    parser.add_argument("--profile", action="store_true", help="cProfile the service functions afterwards")
    args = parser.parse_args()
    if args.quick:
        args.offers, args.factories, args.seconds, args.clients = 1000, 100, 1.0, 10
    # The machine is often shared: the load average says how much the figures can be trusted.
    load_before = os.getloadavg()[0]
    with tempfile.TemporaryDirectory(prefix="bench-gateway-") as workdir:
        space = LocalSpace(Path(workdir))
        plain: subprocess.Popen[bytes] | None = None
        try:
            token, demand_id, candidates = setup(space, args)
            plain, urls = start_plain(space)
            targets = endpoints(space, plain, urls, demand_id)
            rows = asyncio.run(measure(targets, space.tls_context(), token, args))
        finally:
            terminate(plain)
            space.stop()
        machine = {"cpus": os.cpu_count(), "load_average": [load_before, os.getloadavg()[0]]}
        print(
            f"\nload average {load_before:.1f} before, {os.getloadavg()[0]:.1f} after, {os.cpu_count()} CPUs"
        )
        verdict = report(rows, args, candidates)
        write(args, rows, {"demand_fits": candidates, **verdict, "machine": machine})
        if args.profile:
            profile(space, demand_id)


if __name__ == "__main__":
    main()
