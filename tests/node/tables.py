"""Factories' own tables, none of them the steel profile, each with what its generator declares of it.

``Declared`` is the truth an inferred schema is compared with: the type of each column, the range its
numbers are drawn from, the categories it takes, and whether it holds personal information.
"""

from __future__ import annotations

import csv
import math
import random
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

from faker import Faker


@dataclass(frozen=True)
class Declared:
    type: str
    low: float | None = None
    high: float | None = None
    categories: tuple[str, ...] | None = None
    personal: bool = False
    tag: str | None = None  # the tag the column's name or values should give, None when no tag fits


def write(path: Path, header: list[str], rows: list[list[str]]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", encoding="utf-8", newline="") as handle:
        out = csv.writer(handle, lineterminator="\n")
        out.writerow(header)
        out.writerows(rows)
    return path


KILNS = ("K1", "K2", "K3")
KILN_LOG = {
    "timestamp": Declared("timestamp", tag="timestamp"),
    "kiln_id": Declared("category", categories=KILNS, tag="identifier"),
    "temperature": Declared("number", 900, 1400, tag="temperature"),
    "fuel_rate": Declared("number", 0.5, 4.5, tag="energy_consumption"),
}


def kiln_log(path: Path, rows: int = 1500, seed: int = 0) -> Path:
    """A kiln's firing log, one row a minute: each firing cycle heats from 900 to 1400 °C and cools again.

    Fuel follows the heating; thermocouples drop out now and then (empty cells).
    """
    rng = random.Random(seed)
    start = datetime(2024, 3, 1) + timedelta(days=seed)
    period = 180 + 20 * (seed % 3)
    out = []
    for i in range(rows):
        phase = (i % period) / period
        heat = 1 - abs(2 * phase - 1)  # 0 -> 1 -> 0 over a cycle
        temperature = min(1400.0, max(900.0, 900 + 500 * heat + rng.gauss(0, 4)))
        fuel = min(4.5, max(0.5, 0.5 + 4.0 * heat + rng.gauss(0, 0.05)))
        out.append([
            (start + timedelta(minutes=i)).strftime("%Y-%m-%d %H:%M:%S"),
            KILNS[i % len(KILNS)],
            "" if rng.random() < 0.004 else f"{temperature:.1f}",
            f"{fuel:.3f}",
        ])  # fmt: skip
    return write(path, list(KILN_LOG), out)


METERS = ("EM-01", "EM-02", "EM-03", "EM-04", "EM-05", "EM-06")
ENERGY_METER = {
    "timestamp": Declared("timestamp", tag="timestamp"),
    "meter_id": Declared("category", categories=METERS, tag="identifier"),
    "kwh": Declared("number", 20, 240, tag="energy_consumption"),
    "power_factor": Declared("number", 0.80, 0.99, tag="power_factor"),
}


def energy_meter(path: Path, rows: int = 2000, seed: int = 1) -> Path:
    """Quarter-hourly readings of six sub-meters: energy over the quarter and the power factor."""
    rng = random.Random(seed)
    start = datetime(2024, 5, 1)
    out = []
    for i in range(rows):
        hour = (i // len(METERS)) * 0.25 % 24
        load = math.sin(math.pi * hour / 24) * rng.uniform(0.95, 1.0)  # night 0, noon 1
        kwh = 20 + 220 * load
        factor = rng.uniform(0.80, 0.99)
        out.append([
            (start + timedelta(minutes=15 * (i // len(METERS)))).isoformat(),
            METERS[i % len(METERS)],
            f"{min(240.0, max(20.0, kwh)):.2f}",
            f"{factor:.3f}",
        ])  # fmt: skip
    return write(path, list(ENERGY_METER), out)


QUALITY = {
    "inspected_at": Declared("timestamp", tag="timestamp"),
    "inspector": Declared("text", personal=True, tag="person_name"),
    "batch_id": Declared("text", tag="identifier"),
    "defect_count": Declared("integer", 0, 12, tag="quantity"),
    "result": Declared("category", categories=("fail", "pass"), tag="inspection_result"),
}


def quality_inspection(path: Path, rows: int = 1200, seed: int = 2) -> Path:
    """Final inspection of batches: who inspected (Chinese names), the batch, its defects, pass or fail."""
    rng = random.Random(seed)
    fake = Faker("zh_CN")
    fake.seed_instance(seed)
    inspectors = sorted({fake.name() for _ in range(14)})
    start = datetime(2024, 6, 3, 8)
    out = []
    for i in range(rows):
        defects = min(12, int(rng.expovariate(0.5)))
        out.append([
            (start + timedelta(minutes=37 * i)).strftime("%Y-%m-%d %H:%M:%S"),
            rng.choice(inspectors),
            f"B{2024_06_03 + i // 40:08d}-{i:05d}",
            str(defects),
            "pass" if defects <= 3 else "fail",
        ])  # fmt: skip
    return write(path, list(QUALITY), out)


TABLES = {
    "kiln_log": (kiln_log, KILN_LOG),
    "energy_meter": (energy_meter, ENERGY_METER),
    "quality_inspection": (quality_inspection, QUALITY),
}
