"""Audit log benchmark: single-append cost and proof latency as the log grows to 10^3, 10^5 and 10^6 entries.

The log is built in bulk between sizes; every measured append goes through the normal ``AuditLog.append``.
Run: ``.venv/bin/python bench/audit.py [--max-size N] [--samples K] [--verify]``.
"""

from __future__ import annotations

import argparse
import json
import platform
import random
import statistics
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event

from coordinator.audit import merkle
from coordinator.audit.note import NoteSigner
from coordinator.audit.store import AuditLog, EntryDraft
from coordinator.audit.verify import verify_store

STANDARD_SIZES = (10**3, 10**5, 10**6)
BATCH = 20_000
WARMUP = 50
ORIGIN = "bench.example/audit"
NOW = datetime(2025, 1, 1, tzinfo=UTC)
RESULTS = Path(__file__).resolve().parent / "results" / "audit.json"


def sqlite_engine(path: Path) -> Engine:
    """The coordinator's embedded configuration: a SQLite file in WAL mode."""
    engine = create_engine(f"sqlite:///{path}", connect_args={"check_same_thread": False, "timeout": 30})

    @event.listens_for(engine, "connect")
    def _pragmas(dbapi_connection: Any, _record: Any) -> None:
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.close()

    return engine


def draft(i: int) -> EntryDraft:
    return EntryDraft(
        actor=f"participant-{i % 97}",
        kind=("job.submitted", "job.finished", "budget.spent", "result.released")[i % 4],
        subjects={"job": f"job-{i // 4}", "participant": f"p-{i % 97}"},
        payload={"rows": i, "epsilon": 0.5, "purpose": "quality-control"},
    )


def grow(log: AuditLog, target: int) -> float:
    """Bulk-append until the log holds ``target`` entries; returns the seconds spent."""
    start = time.perf_counter()
    size = log.size()
    while size < target:
        count = min(BATCH, target - size)
        log.append_batch([draft(i) for i in range(size, size + count)], NOW)
        size += count
        print(f"\r  building: {size:>9,} / {target:,}", end="", flush=True)
    print()
    return time.perf_counter() - start


def settle(engine: Engine, log: AuditLog, size: int) -> None:
    """Flush the bulk load out of the WAL and warm up, so the samples show the steady-state append."""
    with engine.connect() as conn:
        conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
    for k in range(WARMUP):
        log.append(*draft(size + k), NOW)


def timed(samples: int, call: Callable[[int], object]) -> list[float]:
    """Per-call wall time in microseconds."""
    out = []
    for k in range(samples):
        t0 = time.perf_counter()
        call(k)
        out.append((time.perf_counter() - t0) * 1e6)
    return out


def p95(values: list[float]) -> float:
    return statistics.quantiles(values, n=20)[-1]


def measure(log: AuditLog, size: int, samples: int, rng: random.Random) -> dict[str, Any]:
    appends = timed(samples, lambda k: log.append(*draft(size + WARMUP + k), NOW))
    current = log.size()
    root = log.root()
    indices = [rng.randrange(current) for _ in range(samples)]
    firsts = [rng.randrange(1, current) for _ in range(samples)]
    inclusion = timed(samples, lambda k: log.inclusion_proof(indices[k], current))
    consistency = timed(samples, lambda k: log.consistency_proof(firsts[k], current))
    # Spot-check that what was measured is right.
    entry = log.entry(indices[0])
    merkle.verify_inclusion(
        entry.leaf_hash(), indices[0], current, log.inclusion_proof(indices[0], current), root
    )
    checkpoint = timed(1, lambda _: log.checkpoint(NOW))
    return {
        "size": size,
        "append_us_median": statistics.median(appends),
        "append_us_p95": p95(appends),
        "appends_per_s": samples / (sum(appends) / 1e6),
        "inclusion_us_median": statistics.median(inclusion),
        "consistency_us_median": statistics.median(consistency),
        "checkpoint_us": checkpoint[0],
    }


def print_table(rows: list[dict[str, Any]]) -> None:
    head = (
        "size",
        "append µs (med)",
        "p95",
        "appends/s",
        "vs 10^3",
        "incl. µs",
        "cons. µs",
        "build s",
        "verify s",
    )
    print(" | ".join(f"{h:>15}" for h in head))
    for r in rows:
        verify = f"{r['verify_s']:.1f}" if r.get("verify_s") is not None else "-"
        cells = (
            f"{r['size']:,}",
            f"{r['append_us_median']:.0f}",
            f"{r['append_us_p95']:.0f}",
            f"{r['appends_per_s']:.0f}",
            f"{r['append_ratio_vs_first']:.2f}",
            f"{r['inclusion_us_median']:.0f}",
            f"{r['consistency_us_median']:.0f}",
            f"{r['build_s']:.1f}",
            verify,
        )
        print(" | ".join(f"{c:>15}" for c in cells))


def run(sizes: list[int], samples: int, verify: bool, seed: int) -> list[dict[str, Any]]:
    rng = random.Random(seed)
    rows: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory() as tmp:
        engine = sqlite_engine(Path(tmp) / "audit.db")
        signer = NoteSigner(ORIGIN, bytes(range(32)))
        log = AuditLog(engine, ORIGIN, signer)
        for size in sizes:
            print(f"size {size:,}")
            build = grow(log, size)
            settle(engine, log, size)
            row = measure(log, size, samples, rng) | {"build_s": build, "verify_s": None}
            if verify:
                t0 = time.perf_counter()
                verify_store(engine, signer.verifier())
                row["verify_s"] = time.perf_counter() - t0
            row["append_ratio_vs_first"] = row["append_us_median"] / (rows or [row])[0]["append_us_median"]
            rows.append(row)
        engine.dispose()
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--max-size", type=int, default=STANDARD_SIZES[-1])
    parser.add_argument("--samples", type=int, default=500, help="measured appends and proofs per size")
    parser.add_argument("--verify", action="store_true", help="also time a full verify_store at each size")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args()
    sizes = sorted({s for s in STANDARD_SIZES if s <= args.max_size} | {args.max_size})
    rows = run(sizes, args.samples, args.verify, args.seed)
    print_table(rows)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    report = {
        "benchmark": "audit log append and proofs (SQLite, WAL, synchronous=NORMAL)",
        "python": platform.python_version(),
        "machine": platform.machine(),
        "samples": args.samples,
        "results": rows,
    }
    args.out.write_text(json.dumps(report, indent=2) + "\n")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
