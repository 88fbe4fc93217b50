"""Secure aggregation in one process (no network): what malicious security costs, and what masking costs.

For n in {5, 10}, D in {10^4, 10^5} and rings of 64 and 32 bits it measures, in the same run (medians):
  - the whole protocol in malicious and in semi-honest mode at the same threshold (the malicious floor
    ⌊2n/3⌋+1), as a critical path (per round the slowest client plus the server, as if the n nodes ran in
    parallel and the network were free) and as the total of every party's time; each client prepares its
    masks in the share round, counted in that round;
  - one client's masked-input round without and with prepare_masks, and prepare_masks itself.
Writes bench/results/secagg_inprocess.json.  Usage: python bench/secagg_inprocess.py [--repeats R] [--quick]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from protocols.fixedpoint import RingArray, ring_dtype  # noqa: E402
from protocols.secagg import client, server  # noqa: E402
from protocols.secagg.config import SecAggConfig, SecurityMode, threshold_floor  # noqa: E402
from protocols.secagg.simulate import new_signing_keys, verify_keys_of  # noqa: E402

MALLOC_ENV = ("MALLOC_MMAP_THRESHOLD_", "MALLOC_TRIM_THRESHOLD_")


class Rounds:
    """Per round: the slowest client, the sum over clients, and the server's time."""

    def __init__(self) -> None:
        self.rounds: list[tuple[list[float], float]] = []

    def run(self, clients: dict[str, Callable[[], Any]], server_steps: list[Callable[[], Any]]) -> None:
        times = []
        for step in clients.values():
            started = time.perf_counter()
            step()
            times.append(time.perf_counter() - started)
        started = time.perf_counter()
        for step in server_steps:
            step()
        self.rounds.append((times, time.perf_counter() - started))

    @property
    def critical(self) -> float:
        return sum(max(c, default=0.0) + s for c, s in self.rounds)

    @property
    def total(self) -> float:
        return sum(sum(c) + s for c, s in self.rounds)


def whole_run(cfg: SecAggConfig, keys: dict[str, Any], inputs: dict[str, RingArray]) -> tuple[Rounds, bool]:
    """One full run with every participant; closures keep each party's time apart from the others'."""
    ids = cfg.participants
    st: dict[str, Any] = {u: client.new_client(cfg, u) for u in ids}
    out: dict[str, Any] = {}
    srv: dict[str, Any] = {"s": server.new_server(cfg)}
    rounds = Rounds()

    def step(u: str, fn: Callable[[], tuple[Any, Any]]) -> Callable[[], None]:
        def go() -> None:
            st[u], out[u] = fn()

        return go

    def serve(receive: Callable[..., Any], close: Callable[..., Any]) -> list[Callable[[], None]]:
        def receive_all() -> None:
            for u in ids:
                if u in out:
                    srv["s"] = receive(srv["s"], out[u])

        def close_round() -> None:
            srv["s"], srv["out"] = close(srv["s"])
            out.clear()

        return [receive_all, close_round]

    def advertise(u: str) -> tuple[Any, Any]:
        return client.advertise_keys(st[u], signing_key=keys[u])

    def share(u: str) -> tuple[Any, Any]:
        state, message = client.share_keys(st[u], srv["out"][u])
        return client.prepare_masks(state), message

    rounds.run(
        {u: step(u, lambda u=u: advertise(u)) for u in ids}, serve(server.receive_keys, server.close_keys)
    )
    rounds.run(
        {u: step(u, lambda u=u: share(u)) for u in ids}, serve(server.receive_shares, server.close_shares)
    )
    rounds.run(
        {u: step(u, lambda u=u: client.masked_input(st[u], srv["out"][u], inputs[u])) for u in ids},
        serve(server.receive_masked_input, server.close_masked_inputs),
    )
    if cfg.malicious:
        rounds.run(
            {
                u: step(u, lambda u=u: client.consistency(st[u], srv["out"][u], signing_key=keys[u]))
                for u in ids
            },
            serve(server.receive_consistency, server.close_consistency),
        )
    rounds.run(
        {u: step(u, lambda u=u: client.unmask(st[u], srv["out"][u])) for u in ids},
        serve(server.receive_unmasking, server.close_unmasking),
    )
    expected = np.zeros(cfg.vector_length, dtype=ring_dtype(cfg.ring_bits))
    for vector in inputs.values():
        np.add(expected, vector, out=expected)
    return rounds, bool(np.array_equal(srv["out"], expected))


def masking(cfg: SecAggConfig, keys: dict[str, Any], x: RingArray, repeats: int) -> dict[str, float]:
    """Median ms of one client's masked-input round, without and with prepare_masks, and of prepare_masks."""
    ids = cfg.participants
    states = {u: client.new_client(cfg, u) for u in ids}
    srv = server.new_server(cfg)
    for u in ids:
        states[u], message = client.advertise_keys(states[u], signing_key=keys[u])
        srv = server.receive_keys(srv, message)
    srv, tables = server.close_keys(srv)
    for u in ids:
        states[u], shares = client.share_keys(states[u], tables[u])
        srv = server.receive_shares(srv, shares)
    _, relayed = server.close_shares(srv)
    me = ids[0]
    shares_sent = states[me]
    prepared = client.prepare_masks(shares_sent)
    return {
        "mask_ms": _median(lambda: client.masked_input(shares_sent, relayed[me], x), repeats),
        "mask_prepared_ms": _median(lambda: client.masked_input(prepared, relayed[me], x), repeats),
        "prepare_ms": _median(lambda: client.prepare_masks(shares_sent), repeats),
    }


def _median(fn: Callable[[], Any], repeats: int) -> float:
    fn()  # warm-up: caches, allocator
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        fn()
        times.append(time.perf_counter() - started)
    return statistics.median(times) * 1000


def measure(n: int, dimension: int, ring_bits: int, repeats: int) -> dict[str, Any]:
    ids = tuple(f"node{i:02d}" for i in range(n))
    keys = new_signing_keys(ids)
    t = threshold_floor(n, 2)
    dtype = ring_dtype(ring_bits)
    rng = np.random.default_rng(0)
    inputs = {u: rng.integers(0, np.iinfo(dtype).max, dimension, dtype=dtype, endpoint=True) for u in ids}
    row: dict[str, Any] = {"ring_bits": ring_bits, "n": n, "t": t, "D": dimension, "correct": True}
    for mode in (SecurityMode.MALICIOUS, SecurityMode.SEMI_HONEST):
        cfg = SecAggConfig(
            b"bench-session-id", ids, t, ring_bits, dimension, verify_keys=verify_keys_of(keys), mode=mode
        )
        critical, total = [], []
        for rep in range(repeats + 1):
            rounds, correct = whole_run(cfg, keys, inputs)
            row["correct"] &= correct
            if rep:  # the first run warms caches and the allocator
                critical.append(rounds.critical * 1000)
                total.append(rounds.total * 1000)
        row[f"{mode.value}_critical_ms"] = statistics.median(critical)
        row[f"{mode.value}_total_ms"] = statistics.median(total)
        if mode is SecurityMode.MALICIOUS:
            row.update(masking(cfg, keys, inputs[ids[0]], max(3 * repeats, 15)))
    row["ratio_critical"] = row["malicious_critical_ms"] / row["semi_honest_critical_ms"]
    row["ratio_total"] = row["malicious_total_ms"] / row["semi_honest_total_ms"]
    return row


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--quick", action="store_true", help="n=5, D=10,000, both rings, 3 repeats")
    args = parser.parse_args()
    repeats = 3 if args.quick else args.repeats
    sizes = [5] if args.quick else [5, 10]
    dims = [10_000] if args.quick else [10_000, 100_000]
    rows = [measure(n, d, bits, repeats) for bits in (64, 32) for n in sizes for d in dims]
    header = ["ring", "n", "t", "D", "crit mal", "crit semi", "ratio", "tot mal", "tot semi", "ratio"]
    header += ["mask", "mask+prep", "prep", "ok"]
    columns = [
        "ring_bits",
        "n",
        "t",
        "D",
        "malicious_critical_ms",
        "semi_honest_critical_ms",
        "ratio_critical",
    ]
    columns += ["malicious_total_ms", "semi_honest_total_ms", "ratio_total", "mask_ms", "mask_prepared_ms"]
    columns += ["prepare_ms", "correct"]
    print(" ".join(f"{h:>9}" for h in header))
    for r in rows:
        print(" ".join(f"{r[c]:>9.2f}" if isinstance(r[c], float) else f"{r[c]!s:>9}" for c in columns))
    print("times in ms; crit = slowest client per round + server; tot = every party's time added up")
    malloc = {name: os.environ[name] for name in MALLOC_ENV if name in os.environ}
    out = ROOT / "bench" / "results" / "secagg_inprocess.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    result = {"benchmark": "secagg_inprocess", "repeats": repeats, "malloc_env": malloc, "rows": rows}
    out.write_text(json.dumps(result, indent=2))
    print(f"wrote {out.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
