"""The pooled plaintext answer, computed directly from every factory's files.

Only a demo can make this check: in a real space nobody holds all the files. It is written independently
of the nodes' DuckDB code (csv module and numpy) so that it really checks the secure result, and it applies
the cell rule itself: a cell pools the rows of the factories with at least ``min_rows`` rows in it, and is
withheld (None) when fewer than ``min_cohort`` factories or ``min_cell_rows`` rows stand behind it.
"""

from __future__ import annotations

import csv
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from contracts.schema import DatasetSchema


def read_factory(files: list[Path], schema: DatasetSchema) -> dict[str, np.ndarray]:
    """The rows of the files as columns: numbers as float64 (NaN if empty), clipped to their bounds."""
    columns: dict[str, list[str]] = {f.name: [] for f in schema.fields}
    for path in files:
        with path.open(newline="", encoding="utf-8") as handle:
            for row in csv.DictReader(handle):
                for name, values in columns.items():
                    values.append(row[name])
    pooled: dict[str, np.ndarray] = {}
    for spec in schema.fields:
        raw = columns[spec.name]
        if spec.min is not None and spec.max is not None:
            numbers = np.array([float(v) if v.strip() else math.nan for v in raw])
            pooled[spec.name] = np.clip(numbers, spec.min, spec.max)
        else:
            pooled[spec.name] = np.array(raw, dtype=object)
    return pooled


@dataclass(frozen=True)
class CellRule:
    min_rows: int = 10
    min_cohort: int = 3
    min_cell_rows: int = 30


def pooled_answer(
    spec: dict[str, Any], factories: list[dict[str, np.ndarray]], schema: DatasetSchema, rule: CellRule
) -> dict[str, Any]:
    """The answer from every factory's rows, one factory's columns per entry of ``factories``."""
    kind = spec["kind"]
    if kind == "linear_regression":
        masks = [_complete(data, [*spec["features"], spec["target"]]) for data in factories]
        chosen = _cell(masks, rule)
        if chosen is None:
            return {"suppressed": True}
        return _regression(_pool(factories, chosen), spec["features"], spec["target"])
    groups: list[str | None] = [None]
    if spec.get("group_by"):
        groups = list(schema.field(spec["group_by"]).categories or [])
    out = []
    for group in groups:
        masks = [_rows(data, spec, group) for data in factories]
        if kind == "histogram":
            out.append({"group": group, **_histogram(factories, masks, spec, rule)})
            continue
        chosen = _cell(masks, rule)
        if chosen is None:
            out.append({"group": group, "suppressed": True})
            continue
        x = np.concatenate([factories[i][spec["field"]][m] for i, m in chosen]) if spec.get("field") else None
        out.append({"group": group, **_statistics(kind, x, sum(int(m.sum()) for _, m in chosen))})
    return {"groups": out}


def _complete(data: dict[str, np.ndarray], fields: list[str]) -> np.ndarray:
    mask = np.ones(len(next(iter(data.values()))), dtype=bool)
    for name in fields:
        mask &= ~np.isnan(data[name])
    return mask


def _rows(data: dict[str, np.ndarray], spec: dict[str, Any], group: str | None) -> np.ndarray:
    mask = _complete(data, [spec["field"]] if spec.get("field") else [])
    if group is not None:
        mask &= data[spec["group_by"]] == group
    return mask


def _cell(masks: list[np.ndarray], rule: CellRule) -> list[tuple[int, np.ndarray]] | None:
    """The factories (index, rows) standing behind a cell, or None when the cell is withheld."""
    chosen = [(i, m) for i, m in enumerate(masks) if int(m.sum()) >= rule.min_rows]
    rows = sum(int(m.sum()) for _, m in chosen)
    return chosen if len(chosen) >= rule.min_cohort and rows >= rule.min_cell_rows else None


def _pool(
    factories: list[dict[str, np.ndarray]], chosen: list[tuple[int, np.ndarray]]
) -> dict[str, np.ndarray]:
    return {name: np.concatenate([factories[i][name][m] for i, m in chosen]) for name in factories[0]}


def _histogram(
    factories: list[dict[str, np.ndarray]], masks: list[np.ndarray], spec: dict[str, Any], rule: CellRule
) -> dict[str, Any]:
    edges = np.array(spec["bins"], dtype=float)
    per_factory = [
        np.histogram(data[spec["field"]][m], bins=edges)[0] for data, m in zip(factories, masks, strict=True)
    ]
    counts: list[int | None] = []
    for b in range(len(edges) - 1):
        qualifying = [int(c[b]) for c in per_factory if c[b] >= rule.min_rows]
        released = len(qualifying) >= rule.min_cohort and sum(qualifying) >= rule.min_cell_rows
        counts.append(sum(qualifying) if released else None)
    return {"counts": counts}


def _statistics(kind: str, x: np.ndarray | None, n: int) -> dict[str, Any]:
    if kind == "count" or x is None:
        return {"n": n}
    if kind == "sum":
        return {"n": len(x), "sum": float(x.sum())}
    if kind == "mean":
        return {"n": len(x), "mean": float(x.mean())}
    return {"n": len(x), "mean": float(x.mean()), "variance": float(x.var(ddof=1))}


def _regression(data: dict[str, np.ndarray], features: list[str], target: str) -> dict[str, Any]:
    columns = [data[f] for f in features]
    y = data[target]
    keep = ~np.isnan(y)
    for column in columns:
        keep &= ~np.isnan(column)
    x = np.column_stack([np.ones(int(keep.sum())), *(c[keep] for c in columns)])
    y = y[keep]
    beta, *_ = np.linalg.lstsq(x, y, rcond=None)
    residuals = y - x @ beta
    dof = len(y) - x.shape[1]
    sigma2 = float(residuals @ residuals) / dof
    se = np.sqrt(np.diag(sigma2 * np.linalg.inv(x.T @ x)))
    names = ["intercept", *features]
    r2 = 1.0 - float(residuals @ residuals) / float(((y - y.mean()) ** 2).sum())
    return {
        "n": len(y),
        "coefficients": dict(zip(names, map(float, beta), strict=True)),
        "std_errors": dict(zip(names, map(float, se), strict=True)),
        "r_squared": r2,
    }


def compare(secure: dict[str, Any], pooled: dict[str, Any], rel_tol: float) -> list[str]:
    """Differences beyond tolerance between a secure result and the pooled answer (empty when they agree)."""
    problems: list[str] = []
    _walk("", pooled, secure, rel_tol, problems)
    return problems


def _walk(path: str, expected: Any, actual: Any, rel_tol: float, problems: list[str]) -> None:
    if isinstance(expected, dict):
        for key, value in expected.items():
            _walk(f"{path}.{key}", value, (actual or {}).get(key), rel_tol, problems)
    elif isinstance(expected, list):
        if not isinstance(actual, list) or len(actual) != len(expected):
            problems.append(f"{path}: {actual!r} != {expected!r}")
            return
        for i, (e, a) in enumerate(zip(expected, actual, strict=True)):
            _walk(f"{path}[{i}]", e, a, rel_tol, problems)
    elif isinstance(expected, int) and not isinstance(expected, bool):
        if actual != expected:
            problems.append(f"{path}: count {actual} != {expected}")
    elif isinstance(expected, float):
        if actual is None or not math.isclose(actual, expected, rel_tol=rel_tol, abs_tol=1e-9):
            problems.append(f"{path}: {actual} != {expected}")
    elif expected != actual:
        problems.append(f"{path}: {actual!r} != {expected!r}")
