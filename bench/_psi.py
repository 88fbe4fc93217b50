"""ECDH-PSI cardinality on ristretto255 (protocols.psi) against OpenMined's PSI, size × size sets.

``bench_psi`` returns rows for bench/he_psi.py to print or store; nothing heavy happens at import. For each
implementation it measures, in the same run, the whole protocol in one process (all three steps, no network)
as a median of ``repeats`` runs after one warm-up, items per second (both parties' items over that time),
and the bytes on the wire counted from the serialised messages. Ours runs single-threaded and with the
default thread count; OpenMined's (``openmined-psi``, C++ on P-256, cardinality mode, its smallest encoding
GCS) runs in another interpreter, since it must not become a dependency of this project:

    python3.11 -m venv /tmp/openmined-venv && /tmp/openmined-venv/bin/pip install openmined-psi
    OPENMINED_PSI_PYTHON=/tmp/openmined-venv/bin/python python bench/_psi.py

Targets: ≥ 1.2× OpenMined's items per second and ≤ 1 MB on the wire for 10k × 10k.
Usage: python bench/_psi.py [--size N] [--repeats R] [--openmined-python PATH]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

THROUGHPUT_TARGET = 1.2  # our items/s over OpenMined's
WIRE_TARGET_BYTES = 1_000_000  # for 10k × 10k
OPENMINED_ENV = "OPENMINED_PSI_PYTHON"

# Run inside OpenMined's interpreter: the same sets, the same protocol shape (client = the party that learns
# the count), JSON on stdout.
_OPENMINED_SCRIPT = r"""
import json, statistics, sys, time
import private_set_intersection.python as psi
size, repeats = int(sys.argv[1]), int(sys.argv[2])
client_items = [f"k{i}" for i in range(size)]
server_items = [f"k{i}" for i in range(size // 2, size // 2 + size)]
seconds, wire, count = [], 0, -1
for rep in range(repeats + 1):
    started = time.perf_counter()
    client = psi.client.CreateWithNewKey(False)
    server = psi.server.CreateWithNewKey(False)
    setup = server.CreateSetupMessage(1e-9, len(client_items), server_items, psi.DataStructure.GCS)
    request = client.CreateRequest(client_items)
    response = server.ProcessRequest(request)
    count = client.GetIntersectionSize(setup, response)
    elapsed = time.perf_counter() - started
    wire = sum(len(m.SerializeToString()) for m in (setup, request, response))
    if rep:
        seconds.append(elapsed)
print(json.dumps({"seconds": seconds, "wire_bytes": wire, "count": count}))
"""


def _sets(size: int) -> tuple[list[str], list[str], int]:
    """Buyer keys k0..k{size-1}, factory keys shifted by half: the intersection has size - size // 2 keys."""
    buyer = [f"k{i}" for i in range(size)]
    factory = [f"k{i}" for i in range(size // 2, size // 2 + size)]
    return buyer, factory, size - size // 2


def _ours(size: int, repeats: int, workers: int | None) -> dict[str, Any]:
    import secrets

    from protocols.psi import cardinality
    from protocols.psi.normalize import normalize_keys

    buyer_raw, factory_raw, expected = _sets(size)
    # Normalisation is local bookkeeping both sides do once, outside the protocol, as OpenMined's inputs are.
    buyer, factory = normalize_keys("exact", buyer_raw), normalize_keys("exact", factory_raw)
    rng = secrets.SystemRandom()
    seconds: list[float] = []
    wire, correct = 0, True
    for rep in range(repeats + 1):
        started = time.perf_counter()
        state, request = cardinality.start(buyer, rng, workers=workers)
        request_bytes = request.to_bytes()
        reply = cardinality.respond(factory, type(request).from_bytes(request_bytes), rng, workers=workers)
        reply_bytes = reply.to_bytes()
        count = cardinality.finish(state, type(reply).from_bytes(reply_bytes), workers=workers)
        elapsed = time.perf_counter() - started
        wire = len(request_bytes) + len(reply_bytes)
        correct &= count == expected
        if rep:  # the first run warms caches and the thread pool's code paths
            seconds.append(elapsed)
    return _row(
        "protocols.psi (ristretto255, libsodium via rbcl)",
        size,
        seconds,
        wire,
        correct,
        threads=workers if workers is not None else _default_workers(),
    )


def _default_workers() -> int:
    from protocols.psi.ristretto import default_workers

    return default_workers()


def _row(
    impl: str, size: int, seconds: list[float], wire: int, correct: bool, **extra: Any
) -> dict[str, Any]:
    median = statistics.median(seconds)
    return {
        "impl": impl,
        "available": True,
        "size": size,
        "repeats": len(seconds),
        "seconds_median": round(median, 4),
        "seconds_min": round(min(seconds), 4),
        "items_per_second": round(2 * size / median),
        "wire_bytes": wire,
        "correct": correct,
        **extra,
    }


def _openmined(size: int, repeats: int, python: str | None) -> dict[str, Any]:
    name = "openmined-psi (P-256, GCS, cardinality)"
    interpreter = python or os.environ.get(OPENMINED_ENV) or sys.executable
    if not interpreter or not Path(interpreter).exists():
        return {"impl": name, "available": False, "reason": f"no interpreter at {interpreter!r}"}
    try:
        done = subprocess.run(
            [interpreter, "-c", _OPENMINED_SCRIPT, str(size), str(repeats)],
            capture_output=True,
            text=True,
            timeout=600,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired) as error:
        return {"impl": name, "available": False, "reason": f"{type(error).__name__}: {error}"}
    if done.returncode != 0:
        last = (done.stderr.strip().splitlines() or ["no output"])[-1]
        return {"impl": name, "available": False, "reason": f"{interpreter}: {last}"}
    result = json.loads(done.stdout.strip().splitlines()[-1])
    _, _, expected = _sets(size)
    return _row(name, size, result["seconds"], result["wire_bytes"], result["count"] == expected, threads=1)


def bench_psi(
    size: int = 10_000, repeats: int = 3, openmined_python: str | None = None
) -> list[dict[str, Any]]:
    """Rows: ours single-threaded, ours threaded, OpenMined (or why not), and a summary with the ratios.

    ``openmined_python`` is the interpreter that has ``openmined-psi`` installed; by default the value of
    $OPENMINED_PSI_PYTHON, else this interpreter (which normally lacks it: the row then says so).
    """
    single = _ours(size, repeats, workers=1)
    threaded = _ours(size, repeats, workers=None)
    peer = _openmined(size, repeats, openmined_python)
    summary: dict[str, Any] = {
        "impl": "summary",
        "size": size,
        "wire_bytes": threaded["wire_bytes"],
        "wire_target_bytes": WIRE_TARGET_BYTES,
        "meets_wire_target": threaded["wire_bytes"] <= WIRE_TARGET_BYTES,
        "throughput_target_ratio": THROUGHPUT_TARGET,
    }
    if peer["available"]:
        for label, ours in (("single_thread", single), ("threaded", threaded)):
            ratio = ours["items_per_second"] / peer["items_per_second"]
            summary[f"throughput_ratio_{label}"] = round(ratio, 2)
            summary[f"meets_throughput_target_{label}"] = ratio >= THROUGHPUT_TARGET
        summary["wire_ratio"] = round(threaded["wire_bytes"] / peer["wire_bytes"], 2)
    else:
        summary["throughput_ratio_threaded"] = None
        summary["reason"] = peer["reason"]
    return [single, threaded, peer, summary]


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--size", type=int, default=10_000)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--openmined-python", default=None)
    args = parser.parse_args()
    for row in bench_psi(args.size, args.repeats, args.openmined_python):
        print(json.dumps(row, ensure_ascii=False))


if __name__ == "__main__":
    main()
