"""CKKS against Paillier for encrypted aggregation that only the buyer can read: 5 parties, 1,000 values each.

One pipeline per scheme, timed end to end (medians of ``repeats``): every party encrypts its vector under the
buyer's public key, the aggregator adds the parties' ciphertexts, the buyer decrypts the sum. Key generation
and loading the public context are set-up, outside the timing. CKKS goes through ``protocols.he`` as the nodes
would (bytes out of each party, strict loading at the aggregator and the buyer); Paillier-1024 is ``phe`` with
gmpy2, one ciphertext per value, all encoded at one fixed precision so that sums need no exponent alignment.
Nothing runs at import; ``bench/he_psi.py`` calls ``bench_ckks_vs_paillier``.
"""

from __future__ import annotations

import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from protocols.he import (  # noqa: E402
    CKKS_4096_SUM,
    CKKS_8192,
    CiphertextSpec,
    CKKSParams,
    KeyOwner,
    aggregate,
    encrypt,
)

PAILLIER_BITS = 1024
PAILLIER_PRECISION = 2.0**-32  # finer than CKKS_8192's ~1e-8 error, so both release comparable figures
PHASES = ("encrypt_s", "aggregate_s", "decrypt_s")


def _timed(step: Callable[[], Any]) -> tuple[Any, float]:
    started = time.perf_counter()
    result = step()
    return result, time.perf_counter() - started


def _ckks_once(owner: KeyOwner, vectors: list[np.ndarray]) -> dict[str, float]:
    public, spec = owner.public, CiphertextSpec.fresh(owner.params, vectors[0].size)
    sent, t_encrypt = _timed(lambda: [encrypt(public, v) for v in vectors])
    total, t_aggregate = _timed(lambda: aggregate(public, sent, spec))
    result, t_decrypt = _timed(lambda: owner.decrypt(total, spec))
    return {
        "encrypt_s": t_encrypt,
        "aggregate_s": t_aggregate,
        "decrypt_s": t_decrypt,
        "bytes_per_party": float(len(sent[0])),
        "max_abs_error": float(np.abs(result - np.sum(vectors, axis=0)).max()),
    }


def _paillier_once(keys: tuple[Any, Any], vectors: list[np.ndarray]) -> dict[str, float]:
    public_key, private_key = keys
    sent, t_encrypt = _timed(
        lambda: [[public_key.encrypt(float(x), precision=PAILLIER_PRECISION) for x in v] for v in vectors]
    )

    def add_all() -> list[Any]:
        totals = list(sent[0])
        for party in sent[1:]:
            totals = [a + b for a, b in zip(totals, party, strict=True)]
        return totals

    total, t_aggregate = _timed(add_all)
    result, t_decrypt = _timed(lambda: np.array([private_key.decrypt(c) for c in total]))
    ciphertext_bytes = (public_key.nsquare.bit_length() + 7) // 8
    return {
        "encrypt_s": t_encrypt,
        "aggregate_s": t_aggregate,
        "decrypt_s": t_decrypt,
        "bytes_per_party": float(ciphertext_bytes * len(vectors[0])),
        "max_abs_error": float(np.abs(result - np.sum(vectors, axis=0)).max()),
    }


def _summary(
    scheme: str, params: str, runs: list[dict[str, float]], parties: int, values: int
) -> dict[str, Any]:
    totals = [sum(run[p] for p in PHASES) for run in runs]
    row: dict[str, Any] = {"scheme": scheme, "params": params, "parties": parties, "values": values}
    row["repeats"] = len(runs)
    row["total_s"] = statistics.median(totals)
    for key in (*PHASES, "bytes_per_party"):
        row[key] = statistics.median(run[key] for run in runs)
    row["max_abs_error"] = max(run["max_abs_error"] for run in runs)
    return row


def bench_ckks_vs_paillier(repeats: int = 5, *, parties: int = 5, values: int = 1000) -> list[dict[str, Any]]:
    """Rows for the CKKS aggregation set, CKKS-8192 (the scoring set) and Paillier-1024 (medians per phase
    and in total), then Paillier over the aggregation set: the ratio the target is about."""
    from phe import paillier  # imported here: a benchmark dependency (dev extra), not the package's

    rng = np.random.default_rng(0)
    sets: tuple[CKKSParams, ...] = (CKKS_4096_SUM, CKKS_8192)
    owners = [KeyOwner(params) for params in sets]
    for owner in owners:
        _ = owner.public  # load the public context once, as a party would before the job
    keys = paillier.generate_paillier_keypair(n_length=PAILLIER_BITS)
    ckks_runs: list[list[dict[str, float]]] = [[] for _ in sets]
    paillier_runs = []
    for _ in range(repeats):
        vectors = [rng.uniform(-1e3, 1e3, values) for _ in range(parties)]
        for runs, owner in zip(ckks_runs, owners, strict=True):
            runs.append(_ckks_once(owner, vectors))
        paillier_runs.append(_paillier_once(keys, vectors))
    ckks = [
        _summary("ckks", params.name, runs, parties, values)
        for params, runs in zip(sets, ckks_runs, strict=True)
    ]
    phe_row = _summary("paillier", f"paillier-{PAILLIER_BITS}", paillier_runs, parties, values)
    ratio: dict[str, Any] = {
        "scheme": f"paillier/{CKKS_4096_SUM.name}",
        "parties": parties,
        "values": values,
        "repeats": repeats,
    }
    for key in ("total_s", *PHASES, "bytes_per_party"):
        ratio[key] = phe_row[key] / ckks[0][key]
    return [*ckks, phe_row, ratio]
