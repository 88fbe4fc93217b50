"""Audit log benchmark: append cost, proof latency and full verification as the log grows to 10^6 entries.

The log is built in bulk between sizes through the store's own batch path, ``AuditLog.append_batch``: the
same entry encoding (with its round-trip check), leaf hashes and perfect-subtree rows as single appends, one
transaction per 20,000 entries. Every measured append goes through the normal ``AuditLog.append``, paired
with an append to a 10^3-entry baseline log so the ratio is immune to a busy machine's drift.

Full verification (``verify_store``: every leaf, subtree hash and checkpoint) runs at each size in a fresh
process, so its peak memory is its own: the growth of the process's maximum resident set while verifying
(the maxrss delta, read as Linux VmHWM), with the ratio to the 10^3 size of the same run. It runs once in
one process and once with entries decoded by one worker process per CPU (their peak RSS is shown apart).
Run: ``.venv/bin/python bench/audit.py [--max-size N] [--samples K] [--no-verify]``.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import platform
import random
import resource
import statistics
import tempfile
import time
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from datetime import UTC, datetime
from functools import partial
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event

from coordinator.audit.store import AuditLog, EntryDraft
from coordinator.audit.verify import verify_store
from protocols.tlog import merkle
from protocols.tlog.note import NoteSigner

STANDARD_SIZES = (10**3, 10**5, 10**6)
BATCH = 20_000
WARMUP = 50
ORIGIN = "bench.example/audit"
SIGNER = NoteSigner(ORIGIN, bytes(range(32)))
BASELINE_SIZE = 10**3
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


def flush_wal(engine: Engine) -> None:
    with engine.connect() as conn:
        conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")


def settle(engine: Engine, log: AuditLog) -> None:
    """Flush the bulk load out of the WAL and warm up, so the samples show the steady-state append."""
    flush_wal(engine)
    start = log.size()
    for k in range(WARMUP):
        log.append(*draft(start + k), NOW)


def elapsed_us(call: Callable[[], object]) -> float:
    t0 = time.perf_counter()
    call()
    return (time.perf_counter() - t0) * 1e6


def p95(values: list[float]) -> float:
    return statistics.quantiles(values, n=20)[-1]


def measure_appends(log: AuditLog, baseline: AuditLog, samples: int) -> dict[str, float]:
    """Single appends to the big log, each paired with one to the 10^3 baseline so machine drift cancels."""
    big: list[float] = []
    small: list[float] = []
    start, base_start = log.size(), baseline.size()
    for k in range(samples):
        item, base_item = draft(start + k), draft(base_start + k)
        big.append(elapsed_us(partial(log.append, *item, NOW)))
        small.append(elapsed_us(partial(baseline.append, *base_item, NOW)))
    return {
        "append_us_median": statistics.median(big),
        "append_us_p95": p95(big),
        "appends_per_s": samples / (sum(big) / 1e6),
        "baseline_append_us_median": statistics.median(small),
        "append_ratio_vs_1e3": statistics.median(big) / statistics.median(small),
    }


def measure_proofs(log: AuditLog, samples: int, rng: random.Random) -> dict[str, float]:
    size, root = log.size(), log.root()
    indices = [rng.randrange(size) for _ in range(samples)]
    firsts = [rng.randrange(1, size) for _ in range(samples)]
    inclusion = [elapsed_us(partial(log.inclusion_proof, i, size)) for i in indices]
    consistency = [elapsed_us(partial(log.consistency_proof, f, size)) for f in firsts]
    # Spot-check that what was timed is right.
    entry = log.entry(indices[0])
    merkle.verify_inclusion(entry.leaf_hash(), indices[0], size, log.inclusion_proof(indices[0], size), root)
    return {
        "inclusion_us_median": statistics.median(inclusion),
        "consistency_us_median": statistics.median(consistency),
        "checkpoint_us": elapsed_us(lambda: log.checkpoint(NOW)),
    }


def peak_rss_mb(reset: bool = False) -> float:
    """This process's peak resident set (Linux VmHWM, which ``reset`` sets back to the current RSS).

    ``getrusage`` maxrss would not do: a spawned process starts with its parent's maxrss on Linux.
    """
    status = Path("/proc/self/status")
    if not status.exists():
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    if reset:
        Path("/proc/self/clear_refs").write_text("5")
    line = next(line for line in status.read_text().splitlines() if line.startswith("VmHWM:"))
    return int(line.split()[1]) / 1024


def verify_in_process(path: str, workers: int) -> dict[str, float]:
    """Run in a fresh process: time ``verify_store`` on the log at ``path`` and the RSS it adds."""
    engine = sqlite_engine(Path(path))
    before = peak_rss_mb(reset=True)
    t0 = time.perf_counter()
    report = verify_store(engine, SIGNER.verifier(), workers=workers)
    seconds = time.perf_counter() - t0
    peak = peak_rss_mb()
    engine.dispose()
    return {
        "entries": report.size,
        "checkpoints": report.checkpoints,
        "seconds": seconds,
        "rss_before_mb": before,
        "rss_peak_mb": peak,
        "rss_delta_mb": peak - before,
        "worker_rss_peak_mb": resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024,
    }


def measure_verify(path: Path, workers: int) -> dict[str, float]:
    with ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("spawn")) as pool:
        return pool.submit(verify_in_process, str(path), workers).result()


def cpus() -> int:
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


def verify_row(path: Path) -> dict[str, Any]:
    serial = measure_verify(path, 1)
    parallel = measure_verify(path, cpus())
    return {
        "verify_entries": serial["entries"],
        "verify_checkpoints": serial["checkpoints"],
        "verify_s": serial["seconds"],
        "verify_us_per_entry": serial["seconds"] / max(serial["entries"], 1) * 1e6,
        "verify_rss_peak_mb": serial["rss_peak_mb"],
        "verify_rss_delta_mb": serial["rss_delta_mb"],
        "verify_workers": cpus(),
        "verify_workers_s": parallel["seconds"],
        "verify_workers_rss_delta_mb": parallel["rss_delta_mb"],
        "verify_worker_rss_peak_mb": parallel["worker_rss_peak_mb"],
    }


def add_memory_ratios(rows: list[dict[str, Any]]) -> None:
    """Verification memory against the smallest size of this run (10^3 in a full run)."""
    verified = [r for r in rows if r.get("verify_s") is not None]
    if not verified:
        return
    base = verified[0]
    for r in verified:
        # A floor of 1 MB keeps the ratio meaningful when the smallest log adds almost nothing.
        r["verify_rss_delta_ratio_vs_1e3"] = r["verify_rss_delta_mb"] / max(base["verify_rss_delta_mb"], 1.0)
        r["verify_rss_peak_ratio_vs_1e3"] = r["verify_rss_peak_mb"] / base["verify_rss_peak_mb"]


def _print(head: tuple[str, ...], lines: list[tuple[str, ...]], width: int) -> None:
    print(" | ".join(f"{h:>{width}}" for h in head))
    for cells in lines:
        print(" | ".join(f"{c:>{width}}" for c in cells))


def print_table(rows: list[dict[str, Any]]) -> None:
    head = ("size", "append µs (med)", "p95", "appends/s", "vs 10^3", "incl. µs", "cons. µs", "build s")
    _print(
        head,
        [
            (
                f"{r['size']:,}",
                f"{r['append_us_median']:.0f}",
                f"{r['append_us_p95']:.0f}",
                f"{r['appends_per_s']:.0f}",
                f"{r['append_ratio_vs_1e3']:.2f}",
                f"{r['inclusion_us_median']:.0f}",
                f"{r['consistency_us_median']:.0f}",
                f"{r['build_s']:.1f}",
            )
            for r in rows
        ],
        15,
    )
    verified = [r for r in rows if r.get("verify_s") is not None]
    if not verified:
        return
    print()
    workers = verified[0]["verify_workers"]
    head = (
        "verified",
        "checkpoints",
        "verify s",
        "µs/entry",
        f"{workers} workers s",
        "ΔRSS MB",
        "peak RSS MB",
        "ΔRSS vs 10^3",
        "peak vs 10^3",
    )
    _print(
        head,
        [
            (
                f"{r['verify_entries']:,}",
                f"{r['verify_checkpoints']:,}",
                f"{r['verify_s']:.1f}",
                f"{r['verify_us_per_entry']:.1f}",
                f"{r['verify_workers_s']:.1f}",
                f"{r['verify_rss_delta_mb']:.1f}",
                f"{r['verify_rss_peak_mb']:.1f}",
                f"{r['verify_rss_delta_ratio_vs_1e3']:.2f}",
                f"{r['verify_rss_peak_ratio_vs_1e3']:.2f}",
            )
            for r in verified
        ],
        12,
    )


def open_log(path: Path) -> tuple[Engine, AuditLog]:
    engine = sqlite_engine(path)
    return engine, AuditLog(engine, ORIGIN, SIGNER)


def run(sizes: list[int], samples: int, verify: bool, seed: int) -> list[dict[str, Any]]:
    rng = random.Random(seed)
    rows: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "audit.db"
        engine, log = open_log(path)
        base_engine, baseline = open_log(Path(tmp) / "baseline.db")
        grow(baseline, BASELINE_SIZE)
        settle(base_engine, baseline)
        for size in sizes:
            print(f"size {size:,}")
            row: dict[str, Any] = {"size": size, "build_s": grow(log, size), "verify_s": None}
            settle(engine, log)
            row |= measure_appends(log, baseline, samples) | measure_proofs(log, samples, rng)
            if verify:
                flush_wal(engine)
                row |= verify_row(path)
            rows.append(row)
        engine.dispose()
        base_engine.dispose()
    add_memory_ratios(rows)
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--max-size", type=int, default=STANDARD_SIZES[-1])
    parser.add_argument("--samples", type=int, default=500, help="measured appends and proofs per size")
    parser.add_argument("--no-verify", action="store_true", help="skip the full verify_store at each size")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args()
    sizes = sorted({s for s in STANDARD_SIZES if s <= args.max_size} | {args.max_size})
    rows = run(sizes, args.samples, not args.no_verify, args.seed)
    print_table(rows)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    report = {
        "benchmark": "audit log append, proofs and full verification (SQLite, WAL, synchronous=NORMAL)",
        "cpus": cpus(),
        "python": platform.python_version(),
        "machine": platform.machine(),
        "samples": args.samples,
        "results": rows,
    }
    args.out.write_text(json.dumps(report, indent=2) + "\n")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
