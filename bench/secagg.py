"""Secure aggregation over real node processes and gRPC on loopback, against its baselines, in one run.

For n nodes and vectors of D ring elements (mod 2^32) it measures, in the same run:
  - the malicious-secure sum (five rounds: signed keys, shares, masked input, consistency, unmasking) vs.
    the semi-honest sum (four rounds, nothing signed) vs. a plaintext sum of the same vectors over the same
    streams (one round) — wall time at the coordinator, median of repeats;
  - a client's masking time on the critical path (the masked-input round, in process, median), with the
    masks expanded beforehand while the node waits for the others' shares, and that expansion's own time;
  - bytes each client uploaded over the whole malicious-secure run vs. 4·D (the plaintext vector's size).
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
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from coordinator.localspace.harness import LocalSpace  # noqa: E402
from protocols.secagg import client, server  # noqa: E402
from protocols.secagg.config import SecAggConfig, threshold_floor  # noqa: E402

PROTOCOLS = ("secagg", "secagg_semi_honest", "plaintext")


def masking_seconds(n: int, dimension: int, repeats: int) -> tuple[float, float]:
    """Medians of one client's masked-input round, and of expanding its masks beforehand (prepare_masks)."""
    ids = [f"node{i:02d}" for i in range(n)]
    keys = {u: Ed25519PrivateKey.generate() for u in ids}
    verify = {u: k.public_key().public_bytes_raw() for u, k in keys.items()}
    config = SecAggConfig(b"bench-session-id", tuple(ids), threshold_floor(n, 2), 32, dimension,
                          verify_keys=verify)  # fmt: skip
    clients = {u: client.new_client(config, u) for u in ids}
    srv = server.new_server(config)
    for u in ids:
        clients[u], message = client.advertise_keys(clients[u], signing_key=keys[u])
        srv = server.receive_keys(srv, message)
    srv, tables = server.close_keys(srv)
    for u in ids:
        clients[u], shares = client.share_keys(clients[u], tables[u])
        srv = server.receive_shares(srv, shares)
    srv, relayed = server.close_shares(srv)
    x = np.random.default_rng(0).integers(0, 2**32, dimension, dtype=np.uint32)
    masking, preparing = [], []
    for _ in range(repeats):
        started = time.perf_counter()
        prepared = client.prepare_masks(clients[ids[0]])
        preparing.append(time.perf_counter() - started)
        started = time.perf_counter()
        client.masked_input(prepared, relayed[ids[0]], x)
        masking.append(time.perf_counter() - started)
    return statistics.median(masking), statistics.median(preparing)


def measure(space: LocalSpace, n: int, dimension: int, repeats: int) -> dict[str, float | int | bool]:
    seconds: dict[str, list[float]] = {p: [] for p in PROTOCOLS}
    uploads, correct = [], True
    with space.operator() as operator:
        operator.http.timeout = 300
        for rep in range(repeats + 1):
            spec = {"dimension": dimension, "seed": rep, "participants": n}
            runs = {p: operator.diagnostic({**spec, "protocol": p}) for p in PROTOCOLS}
            correct &= all(r["correct"] and r["contributors"] == n for r in runs.values())
            if rep == 0:
                continue  # warm-up: connections, allocator, caches
            for p, r in runs.items():
                seconds[p].append(r["seconds"])
            uploads.append(runs["secagg"]["upload_bytes_median"])
    malicious, semi, plain = (statistics.median(seconds[p]) for p in PROTOCOLS)
    upload = statistics.median(uploads)
    masking, preparing = masking_seconds(n, dimension, max(repeats, 5))
    return {
        "n": n, "D": dimension, "malicious_s": malicious, "semi_honest_s": semi, "plaintext_s": plain,
        "malicious_vs_semi_honest": malicious / semi, "malicious_vs_plaintext": malicious / plain,
        "masking_ms": masking * 1000, "prepare_masks_ms": preparing * 1000,
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
    print(f"{'n':>3} {'D':>8} {'malicious s':>11} {'semi-hon s':>10} {'plain s':>8} {'÷semi':>6} "
          f"{'÷plain':>7} {'mask ms':>8} {'prep ms':>8} {'upload B':>10} {'÷4D':>6} ok")  # fmt: skip
    for r in rows:
        print(f"{r['n']:>3} {r['D']:>8} {r['malicious_s']:>11.4f} {r['semi_honest_s']:>10.4f} "
              f"{r['plaintext_s']:>8.4f} {r['malicious_vs_semi_honest']:>6.2f} "
              f"{r['malicious_vs_plaintext']:>7.2f} "
              f"{r['masking_ms']:>8.3f} {r['prepare_masks_ms']:>8.2f} {r['upload_bytes']:>10.0f} "
              f"{r['upload_vs_4D']:>6.3f} {r['correct']}")  # fmt: skip
    out = ROOT / "bench" / "results" / "secagg.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({"benchmark": "secagg", "repeats": args.repeats, "rows": rows}, indent=2))
    print(f"wrote {out.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
