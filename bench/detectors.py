"""Precision, recall and throughput of the sensitive-data detectors on a seeded corpus.

Per detector: positives (Faker zh_CN and generated), negatives (near misses, industrial values and every
other kind's positives), precision and recall of the resolved result (``find_identifiers``), and the
throughput of the detector alone over all its values. Then the throughput of the whole pipeline on the
same values, and of ``scan_column`` on a column of typical factory values (most have no identifier).
Also the false-alarm rate on uniformly random digit strings, which no check digit can push to zero.
Writes bench/results/detectors.json.  Usage: python bench/detectors.py [--n N] [--seed S] [--repeats R]
"""

from __future__ import annotations

import argparse
import json
import platform
import random
import sys
import time
from collections.abc import Callable
from datetime import date
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from contracts.detectors import DETECTORS, VALUE_KINDS, Kind, find_identifiers, scan_column  # noqa: E402
from tests.contracts.detectors.corpus import Corpus, build_corpus, detects, score  # noqa: E402

RESULTS = ROOT / "bench" / "results" / "detectors.json"
RANDOM_DIGITS = (
    (11, Kind.MOBILE),
    (16, Kind.BANK_CARD),
    (18, Kind.USCC),
    (18, Kind.RESIDENT_ID),
    (19, Kind.BANK_CARD),
)


def best_rate(work: Callable[[], int], repeats: int) -> float:
    """Values per second of the fastest of ``repeats`` runs (``work`` returns how many it handled)."""
    best = float("inf")
    count = 0
    for _ in range(repeats):
        start = time.perf_counter()
        count = work()
        best = min(best, time.perf_counter() - start)
    return count / best


def detector_rows(corpus: Corpus, today: date, repeats: int) -> list[dict[str, Any]]:
    rows = []
    for kind in VALUE_KINDS:
        result = score(kind, corpus, today)
        values = corpus.positives[kind] + corpus.negatives(kind)
        find = DETECTORS[kind].find

        def run(values: list[str] = values, find: Any = find) -> int:
            for v in values:
                for _ in find(v, today):
                    pass
            return len(values)

        rows.append(
            {
                "detector": str(kind),
                "positives": result.tp + result.fn,
                "negatives": result.fp + result.tn,
                "tp": result.tp,
                "fp": result.fp,
                "fn": result.fn,
                "precision": result.precision,
                "recall": result.recall,
                "values_per_s": best_rate(run, repeats),
                "missed_examples": list(result.missed[:5]),
                "false_alarm_examples": list(result.false_alarms[:5]),
            }
        )
    return rows


def pipeline_rates(corpus: Corpus, today: date, repeats: int) -> dict[str, float]:
    everything = [v for values in corpus.positives.values() for v in values]
    everything += [v for values in corpus.near_misses.values() for v in values]

    def run_all() -> int:
        for v in everything:
            find_identifiers(v, today=today, names=True)
        return len(everything)

    factory_column = list(corpus.industrial) * (len(everything) // len(corpus.industrial))

    def run_scan() -> int:
        scan_column("note", factory_column, today=today)
        return len(factory_column)

    return {
        "find_identifiers_all_kinds_values_per_s": best_rate(run_all, repeats),
        "scan_column_industrial_values_per_s": best_rate(run_scan, repeats),
    }


def random_digit_rates(seed: int, today: date) -> list[dict[str, Any]]:
    rng = random.Random(seed)
    rows = []
    for length, kind in RANDOM_DIGITS:
        values = ["".join(rng.choice("0123456789") for _ in range(length)) for _ in range(20_000)]
        rate = sum(detects(kind, v, today) for v in values) / len(values)
        rows.append({"length": length, "detector": str(kind), "false_alarm_rate": rate})
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=20_000, help="positives per detector")
    parser.add_argument("--seed", type=int, default=20250601)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    today = date.today()  # Faker dates birthdays back from the real today

    corpus = build_corpus(args.seed, args.n, today)
    rows = detector_rows(corpus, today, args.repeats)
    pipeline = pipeline_rates(corpus, today, args.repeats)
    random_rows = random_digit_rates(args.seed, today)

    print(f"{'detector':<16}{'positives':>10}{'negatives':>11}{'precision':>11}{'recall':>9}{'values/s':>12}")
    for r in rows:
        print(
            f"{r['detector']:<16}{r['positives']:>10}{r['negatives']:>11}{r['precision']:>11.4f}"
            f"{r['recall']:>9.4f}{r['values_per_s']:>12,.0f}"
        )
    for name, rate in pipeline.items():
        print(f"{name}: {rate:,.0f}")
    print("false alarms on uniformly random digit strings:")
    for r in random_rows:
        print(f"  {r['length']} digits as {r['detector']}: {r['false_alarm_rate']:.4f}")

    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    report = {
        "seed": args.seed,
        "n": args.n,
        "today": today.isoformat(),
        "python": platform.python_version(),
        "machine": platform.machine(),
        "detectors": rows,
        "pipeline": pipeline,
        "random_digits": random_rows,
    }
    RESULTS.write_text(json.dumps(report, ensure_ascii=False, indent=2) + "\n")
    print(f"wrote {RESULTS.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
