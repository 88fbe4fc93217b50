"""Secure aggregation over real node processes and gRPC on loopback, against a plaintext sum.

For n nodes and vectors of D ring elements (mod 2^32) it measures, in the same run:
  - the secure sum (four rounds: keys, shares, masked input, unmasking) vs. a plaintext sum of the same
    vectors over the same streams (one round) — wall time at the coordinator, median of repeats;
  - a client's masking time (the masked-input round, in process, median);
  - bytes each client uploaded over the whole secure run vs. 4·D (the plaintext vector's size).
Writes bench/results/secagg.json.  Usage: python bench/secagg.py [--repeats R] [--quick]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from coordinator.localspace.harness import LocalSpace  # noqa: E402
from protocols.secagg import client, server  # noqa: E402
from protocols.secagg.config import SecAggConfig  # noqa: E402


def masking_seconds(n: int, dimension: int, repeats: int) -> float:
    """Median time of one client's masked-input round (open shares, agree keys, expand and add masks)."""
    ids = [f"node{i:02d}" for i in range(n)]
    config = SecAggConfig(b"bench-session-id", tuple(ids), n // 2 + 1, 32, dimension)
    clients = {u: client.new_client(config, u) for u in ids}
    srv = server.new_server(config)
    for u in ids:
        clients[u], message = client.advertise_keys(clients[u])
        srv = server.receive_keys(srv, message)
    srv, tables = server.close_keys(srv)
    for u in ids:
        clients[u], shares = client.share_keys(clients[u], tables[u])
        srv = server.receive_shares(srv, shares)
    srv, relayed = server.close_shares(srv)
    x = np.random.default_rng(0).integers(0, 2**32, dimension, dtype=np.uint32)
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        client.masked_input(clients[ids[0]], relayed[ids[0]], x)
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def measure(space: LocalSpace, n: int, dimension: int, repeats: int) -> dict[str, float | int | bool]:
    secure, plain, uploads, correct = [], [], [], True
    with space.operator() as operator:
        operator.http.timeout = 300
        for rep in range(repeats + 1):
            spec = {"dimension": dimension, "seed": rep, "participants": n}
            s = operator.diagnostic({**spec, "protocol": "secagg"})
            p = operator.diagnostic({**spec, "protocol": "plaintext"})
            correct &= bool(s["correct"] and p["correct"]) and s["contributors"] == p["contributors"] == n
            if rep == 0:
                continue  # warm-up: connections, allocator, caches
            secure.append(s["seconds"])
            plain.append(p["seconds"])
            uploads.append(s["upload_bytes_median"])
    secure_s, plain_s = statistics.median(secure), statistics.median(plain)
    upload = statistics.median(uploads)
    return {
        "n": n, "D": dimension, "secure_s": secure_s, "plaintext_s": plain_s,
        "secure_vs_plaintext": secure_s / plain_s,
        "masking_ms": masking_seconds(n, dimension, max(repeats, 5)) * 1000,
        "upload_bytes": upload, "upload_vs_4D": upload / (4 * dimension), "correct": correct,
    }  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--quick", action="store_true", help="n=5, D=10,000 only")
    args = parser.parse_args()
    sizes = [5] if args.quick else [5, 10]
    dims = [10_000] if args.quick else [10_000, 100_000]
    rows = []
    with tempfile.TemporaryDirectory(prefix="bench-secagg-") as tmp:
        for n in sizes:
            space = LocalSpace(Path(tmp) / f"n{n}", extra_env={"DATASPACE_LOG_LEVEL": "WARNING"})
            try:
                space.start_coordinator()
                for i in range(n):
                    space.start_node(space.add_factory(i, rows=50))
                space.wait_for_nodes(n)
                rows += [measure(space, n, d, args.repeats) for d in dims]
            finally:
                space.stop()
    print(f"{'n':>3} {'D':>8} {'secure s':>9} {'plain s':>9} {'ratio':>6} {'mask ms':>8} "
          f"{'upload B':>10} {'÷4D':>6} ok")  # fmt: skip
    for r in rows:
        print(f"{r['n']:>3} {r['D']:>8} {r['secure_s']:>9.4f} {r['plaintext_s']:>9.4f} "
              f"{r['secure_vs_plaintext']:>6.2f} {r['masking_ms']:>8.2f} {r['upload_bytes']:>10.0f} "
              f"{r['upload_vs_4D']:>6.3f} {r['correct']}")  # fmt: skip
    out = ROOT / "bench" / "results" / "secagg.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({"benchmark": "secagg", "repeats": args.repeats, "rows": rows}, indent=2))
    print(f"wrote {out.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
