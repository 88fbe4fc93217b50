"""Realistic synthetic production data for demos and tests, deterministic for a seed.

The steel profile mimics a melt shop (converter, ladle furnace, vacuum degassing, continuous casting): energy
use rises with temperature and scrap share, defects rise with temperature, and each factory has its own
traits, so pooled statistics differ from any single factory's. Sensor dropouts (empty cells) and rare
out-of-bounds spikes are included on purpose: they exercise NULL handling and clipping.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from contracts.offers import Grade
from contracts.schema import DatasetSchema, FieldSpec, FieldType

PROFILES = ("steel",)
LINES = ["L1", "L2", "L3", "L4"]
SHIFTS = ["A", "B", "C"]
STEPS = ["BOF", "LF", "RH", "CC"]

# Per process step: typical temperature (°C), energy (kWh/t), throughput (t/h) and cycle time (min).
_STEP_TEMP = np.array([1665.0, 1595.0, 1585.0, 1545.0])
_STEP_ENERGY = np.array([430.0, 470.0, 455.0, 390.0])
_STEP_THROUGHPUT = np.array([260.0, 220.0, 200.0, 180.0])
_STEP_CYCLE = np.array([38.0, 45.0, 30.0, 55.0])

_SURNAMES = list("王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾")
_GIVEN = list("伟芳娜敏静丽强磊军洋勇艳杰娟涛明超秀霞平刚桂英华建国志红文斌鹏辉宇浩")
_MOBILE_PREFIXES = [
    *range(130, 140),
    *range(150, 154),
    *range(155, 160),
    166,
    *range(170, 174),
    *range(175, 179),
    *range(180, 190),
    *range(191, 194),
    *range(195, 200),
]


# Tags and grades of the steel profile (GB/T 43697: production parameters are "important", aggregate-friendly
# operational measures "general"; the heat id identifies a batch and is excluded).
STEEL_TAGS = {
    "ts": "timestamp", "heat_id": "identifier", "line": "production_line", "shift": "shift",
    "process_step": "process_step", "furnace_temp_c": "temperature", "energy_kwh_per_t": "energy_intensity",
    "throughput_t_per_h": "throughput", "defect_rate_pct": "defect_rate", "scrap_ratio": "material_ratio",
    "cycle_time_min": "cycle_time", "operator_name": "person_name", "operator_mobile": "phone_number",
}  # fmt: skip
STEEL_GRADES = {name: Grade.GENERAL for name in STEEL_TAGS} | {
    "furnace_temp_c": Grade.IMPORTANT, "heat_id": Grade.CORE,
    "operator_name": Grade.CORE, "operator_mobile": Grade.CORE,
}  # fmt: skip


class UnknownProfileError(ValueError):
    """No sample-data profile has this name; the message lists those there are."""

    def __init__(self, profile: str) -> None:
        super().__init__(f"unknown sample-data profile {profile!r}; known: {', '.join(PROFILES)}")


def check_profile(profile: str) -> str:
    """``profile`` if it names a sample-data profile, else ``UnknownProfileError``."""
    if profile not in PROFILES:
        raise UnknownProfileError(profile)
    return profile


def profile_terms(profile: str = "steel") -> tuple[dict[str, str], dict[str, Grade]]:
    """The semantic tags and grades of a profile's fields."""
    check_profile(profile)
    return dict(STEEL_TAGS), dict(STEEL_GRADES)


def profile_schema(profile: str = "steel") -> DatasetSchema:
    """Return the public schema of a sample-data profile."""
    check_profile(profile)
    return DatasetSchema(
        name="steel_production",
        description="Heat-level records of a steel melt shop: one row per heat and process step.",
        fields=[
            _field("ts", FieldType.TIMESTAMP, "", "end of the process step (plant local time)"),
            _field("heat_id", FieldType.TEXT, "", "heat number as printed on the heat card"),
            _field("line", FieldType.CATEGORY, "", "production line", categories=LINES),
            _field("shift", FieldType.CATEGORY, "", "A 06-14, B 14-22, C 22-06", categories=SHIFTS),
            _field("process_step", FieldType.CATEGORY, "", "BOF, LF, RH or CC", categories=STEPS),
            _field("furnace_temp_c", FieldType.NUMBER, "°C", "melt temperature at step end", 1400, 1800),
            _field("energy_kwh_per_t", FieldType.NUMBER, "kWh/t", "electric energy per tonne", 300, 700),
            _field("throughput_t_per_h", FieldType.NUMBER, "t/h", "throughput of the step", 0, 500),
            _field("defect_rate_pct", FieldType.NUMBER, "%", "share of downgraded product", 0, 100),
            _field("scrap_ratio", FieldType.NUMBER, "1", "scrap share of the metallic charge", 0, 1),
            _field("cycle_time_min", FieldType.INTEGER, "min", "duration of the step", 10, 120),
            _field("operator_name", FieldType.TEXT, "", "operator on duty", personal=True),
            _field("operator_mobile", FieldType.TEXT, "", "operator's mobile number", personal=True),
        ],
    )


def _field(
    name: str,
    type_: FieldType,
    unit: str,
    description: str,
    lo: float | None = None,
    hi: float | None = None,
    *,
    categories: list[str] | None = None,
    personal: bool = False,
) -> FieldSpec:
    return FieldSpec(
        name=name,
        type=type_,
        unit=unit,
        description=description,
        min=lo,
        max=hi,
        categories=categories,
        personal=personal,
    )


def generate(path: Path, *, rows: int, seed: int, factory_index: int = 0, profile: str = "steel") -> Path:
    """Write ``rows`` sample rows as UTF-8 CSV to ``path``; the same arguments give identical bytes."""
    schema = profile_schema(profile)
    if rows < 0:
        raise ValueError("rows must be non-negative")
    columns = _steel_columns(rows, np.random.default_rng(seed), factory_index)
    names = schema.field_names
    text = [",".join(names)]
    text += [",".join(cells) for cells in zip(*(columns[name] for name in names), strict=True)]
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(text) + "\n", encoding="utf-8", newline="")
    return path


def _steel_columns(rows: int, rng: np.random.Generator, factory: int) -> dict[str, list[str]]:
    traits = _factory_traits(rng, factory)
    stamps = traits["start"] + np.cumsum(rng.exponential(360.0, rows)).astype(np.int64)
    hour = (stamps // 3600) % 24
    shift = np.where((hour >= 6) & (hour < 14), 0, np.where((hour >= 14) & (hour < 22), 1, 2))
    line = rng.choice(len(LINES), rows, p=traits["line_mix"])
    step = rng.choice(len(STEPS), rows, p=traits["step_mix"])
    temp = _STEP_TEMP[step] + traits["temp_offset"] + traits["line_temp"][line] + rng.normal(0, 18, rows)
    scrap = rng.beta(traits["scrap_a"], 20.0, rows)
    energy = (
        _STEP_ENERGY[step]
        + 0.85 * (temp - _STEP_TEMP[step])
        + 180.0 * (scrap - 0.15)
        + traits["energy_offset"]
        + 8.0 * (shift == 2)
        + rng.normal(0, 12, rows)
    )
    throughput = (
        _STEP_THROUGHPUT[step] * traits["throughput_scale"] - 0.15 * (energy - 450) + rng.normal(0, 15, rows)
    )
    log_defect = np.log(1.1) + 0.012 * (temp - 1600) + 0.15 * (shift == 2) + traits["defect_offset"]
    defect = np.exp(log_defect + rng.normal(0, 0.35, rows))
    cycle = np.rint(_STEP_CYCLE[step] * traits["cycle_scale"] + rng.normal(0, 5, rows)).astype(np.int64)
    # Thermocouple failures read far too hot and meter glitches double a reading: values outside the
    # declared bounds, which every statistic clips.
    temp += rng.uniform(150, 300, rows) * (rng.random(rows) < 0.002)
    energy *= np.where(rng.random(rows) < 0.001, 2.0, 1.0)
    operators = rng.integers(0, len(traits["names"]), rows)
    return {
        "ts": np.datetime_as_string(stamps.astype("datetime64[s]"), unit="s").tolist(),
        "heat_id": [f"H{factory:02d}{i:07d}" for i in range(1, rows + 1)],
        "line": _labels(LINES, line),
        "shift": _labels(SHIFTS, shift),
        "process_step": _labels(STEPS, step),
        "furnace_temp_c": _formatted(temp, 1, rng, 0.005),
        "energy_kwh_per_t": _formatted(energy, 1, rng, 0.003),
        "throughput_t_per_h": _formatted(np.maximum(throughput, 0.0), 1, rng, 0.0),
        "defect_rate_pct": _formatted(defect, 3, rng, 0.002),
        "scrap_ratio": _formatted(scrap, 4, rng, 0.0),
        "cycle_time_min": list(map(str, cycle.tolist())),
        "operator_name": _labels(traits["names"], operators),
        "operator_mobile": _labels(traits["mobiles"], operators),
    }


def _factory_traits(rng: np.random.Generator, factory: int) -> dict[str, Any]:
    start = np.datetime64("2024-01-01T00:00:00", "s").astype(np.int64) + 86_400 * 7 * factory
    crew = 18 + int(rng.integers(0, 12))
    return {
        "start": int(start) + int(rng.integers(0, 86_400)),
        "line_mix": rng.dirichlet(np.full(len(LINES), 6.0)),
        "step_mix": rng.dirichlet(np.array([8.0, 6.0, 3.0, 6.0])),
        "temp_offset": rng.normal(0, 10) + 4.0 * (factory % 3 - 1),
        "line_temp": rng.normal(0, 4, len(LINES)),
        "scrap_a": rng.uniform(2.5, 5.0),
        "energy_offset": rng.normal(0, 15) - 6.0 * (factory % 2),
        "throughput_scale": rng.uniform(0.85, 1.15),
        "defect_offset": rng.normal(0, 0.2),
        "cycle_scale": rng.uniform(0.9, 1.1),
        "names": _operator_names(rng, crew),
        "mobiles": _mobiles(rng, crew),
    }


def _operator_names(rng: np.random.Generator, count: int) -> list[str]:
    surnames = rng.choice(len(_SURNAMES), count)
    given = rng.choice(len(_GIVEN), (count, 2))
    two_chars = rng.random(count) < 0.6
    return [
        _SURNAMES[s] + _GIVEN[g[0]] + (_GIVEN[g[1]] if long else "")
        for s, g, long in zip(surnames, given, two_chars, strict=True)
    ]


def _mobiles(rng: np.random.Generator, count: int) -> list[str]:
    prefixes = rng.choice(_MOBILE_PREFIXES, count)
    subscribers = rng.integers(0, 100_000_000, count)
    return [f"{p}{s:08d}" for p, s in zip(prefixes, subscribers, strict=True)]


def _labels(labels: list[str], codes: NDArray[np.int64]) -> list[str]:
    return np.array(labels, dtype=object)[codes].tolist()  # type: ignore[no-any-return]


def _formatted(
    values: NDArray[np.float64], decimals: int, rng: np.random.Generator, missing: float
) -> list[str]:
    """Round for the CSV and blank out a share of cells, as sensor dropouts leave them."""
    text = list(map(f"{{:.{decimals}f}}".format, values.tolist()))
    for index in np.flatnonzero(rng.random(len(values)) < missing).tolist():
        text[index] = ""
    return text
