"""The catalogue at 10,000 offers: a page of search results from the database, against filtering in Python.

In the same run, on the same SQLite store (and PostgreSQL when $DATASPACE_TEST_POSTGRES_URL is set): each
query through ``coordinator.services.catalog`` (indexed SQL, one page) against the baseline a catalogue
without an index would need — load every offer, parse it, filter and sort in Python. Medians of R runs.
Writes bench/results/catalog.json.  Usage: python bench/catalog.py [--offers N] [--repeats R]
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import sys
import tempfile
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from sqlalchemy import text  # noqa: E402

from contracts.grading import tags_named  # noqa: E402
from contracts.offers import DatasetOffer  # noqa: E402
from coordinator.services.catalog import CatalogQuery, catalog_filter, catalog_rows  # noqa: E402
from coordinator.store.database import Store, make_engine  # noqa: E402
from coordinator.store.tables import OfferRow  # noqa: E402
from tests.contracts.test_offers import NOW, offer_dict  # noqa: E402

QUERIES: dict[str, dict[str, Any]] = {
    "words 温度 (tag synonym)": {"q": "温度"},
    "tag + kind + purpose, by price": {
        "tag": ["speed"],
        "kind": ["mean"],
        "purpose": "research",
        "sort": "price",
    },
    "region DE, general grade only": {"region": "DE", "max_grade": "general"},
    "quality: ≥1000 rows, ≥0.95 complete": {"min_rows": 1000, "min_completeness": 0.95},
}
PURPOSES = ["energy_benchmarking", "research", "quality_improvement", "carbon_accounting"]
KINDS = ["count", "sum", "mean", "histogram", "variance"]


def offers(count: int) -> list[DatasetOffer]:
    rng = random.Random(1)
    made = []
    for index in range(count):
        document = offer_dict(
            index % 3,
            offer_id=f"bench-{index:06d}",
            allowed_purposes=rng.sample(PURPOSES, rng.randint(1, 4)),
            allowed_regions=rng.sample(["CN", "DE"], rng.randint(1, 2)),
            allowed_job_kinds=rng.sample(KINDS, rng.randint(1, 5)),
            not_after=NOW + timedelta(days=rng.randint(1, 365)),
            price={"amount": f"{rng.randint(0, 10**6) / 100:.2f}", "currency": "CNY"},
        )
        document["grades"] = document["grades"] | {"energy": rng.choice(["general", "important"])}
        document["tags"] = document["tags"] | {"throughput": rng.choice(["throughput", "speed"])}
        document["quality"] = {"rows": rng.choice([80, 1200, 56000]), "completeness": rng.random(),
                               "validity": 1.0, "duplicate_rate": 0.0, "measured_at": NOW}  # fmt: skip
        if "DE" in document["allowed_regions"]:
            document["grades"]["energy"] = "general"  # important data never goes abroad: the offer rule
        made.append(DatasetOffer.model_validate(document))
    return made


def fill(store: Store, catalogue: list[DatasetOffer]) -> None:
    for offer in catalogue:
        row = OfferRow(offer_id=offer.offer_id, provider=offer.provider, dataset=offer.dataset,
                       offer_text=offer.model_dump_json(), published_at=NOW)  # fmt: skip
        store.add_offer(row, *catalog_rows(offer, NOW))


def in_python(store: Store, query: CatalogQuery) -> list[str]:
    """The baseline: every offer loaded and parsed, filtered and sorted in Python, then one page."""
    words = (query.q or "").split()
    found = []
    for row in store.offers():
        offer = DatasetOffer.model_validate_json(row.offer_text)
        usable = offer.usable_fields()
        tags = {offer.tags[n] for n in usable}
        grades = {str(offer.grades.get(n)) for n in usable}
        quality = offer.quality
        if (
            set(query.tag) <= tags
            and {str(k) for k in query.kind} <= {str(k) for k in offer.allowed_job_kinds}
            and (query.purpose is None or query.purpose in offer.allowed_purposes)
            and (query.region is None or query.region in offer.allowed_regions)
            and (query.max_grade is None or grades <= {"general"})
            and all(tags & tags_named(w) or any(w in n for n in usable) for w in words)
            and (query.min_rows is None or (quality is not None and quality.rows >= query.min_rows))
            and (
                query.min_completeness is None
                or (quality is not None and quality.completeness >= query.min_completeness)
            )
        ):
            found.append(offer)
    key = (lambda o: o.price.amount) if query.sort == "price" else (lambda o: o.offer_id)
    return [o.offer_id for o in sorted(found, key=key)[: query.limit]]


def median_ms(action: Any, repeats: int) -> float:
    action()
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        action()
        times.append((time.perf_counter() - started) * 1000)
    return statistics.median(times)


def run(store: Store, label: str, repeats: int) -> list[dict[str, Any]]:
    rows = []
    for name, params in QUERIES.items():
        query = CatalogQuery.model_validate(params)
        total, page = store.search_catalog(catalog_filter(query))
        indexed = median_ms(lambda q=query: store.search_catalog(catalog_filter(q)), repeats)
        scanned = median_ms(lambda q=query: in_python(store, q), max(1, repeats // 3))
        rows.append({"database": label, "query": name, "matches": total, "page": len(page),
                     "indexed_ms": round(indexed, 2), "python_scan_ms": round(scanned, 1),
                     "speedup": round(scanned / indexed, 1)})  # fmt: skip
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--offers", type=int, default=10_000)
    parser.add_argument("--repeats", type=int, default=15)
    args = parser.parse_args()
    catalogue = offers(args.offers)
    results = []
    with tempfile.TemporaryDirectory() as workdir:
        store = Store(make_engine(None, Path(workdir)))
        fill(store, catalogue)
        results += run(store, "sqlite", args.repeats)
        store.engine.dispose()
    url = os.environ.get("DATASPACE_TEST_POSTGRES_URL")
    if url:
        store = Store(make_engine(url, Path(".")))
        with store.engine.begin() as conn:
            for table in ("catalog_term", "catalog_entry", "offer"):
                conn.execute(text(f"DELETE FROM {table} WHERE offer_id LIKE 'bench-%'"))
        fill(store, catalogue)
        results += run(store, "postgresql", args.repeats)
        with store.engine.begin() as conn:
            for table in ("catalog_term", "catalog_entry", "offer"):
                conn.execute(text(f"DELETE FROM {table} WHERE offer_id LIKE 'bench-%'"))
    print(f"\nCatalogue of {args.offers:,} offers: one page (20) per query, median milliseconds")
    print(f"{'database':<11}{'query':<40}{'matches':>9}{'indexed':>10}{'python':>10}{'speedup':>9}")
    for r in results:
        print(f"{r['database']:<11}{r['query']:<40}{r['matches']:>9}{r['indexed_ms']:>10.2f}"
              f"{r['python_scan_ms']:>10.1f}{r['speedup']:>8.1f}×")  # fmt: skip
    out = ROOT / "bench" / "results" / "catalog.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({"offers": args.offers, "results": results}, indent=2, ensure_ascii=False))
    print(f"wrote {out.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
