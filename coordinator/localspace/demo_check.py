"""The pooled plaintext answer, computed directly from every factory's files.

Only a demo can make this check: in a real space nobody holds all the files. It is written independently
of the nodes' DuckDB code (csv module and numpy) so that it really checks the secure result.
"""

from __future__ import annotations

import csv
import math
from pathlib import Path
from typing import Any

import numpy as np

from contracts.schema import DatasetSchema


def read_pooled(files: list[Path], schema: DatasetSchema) -> dict[str, np.ndarray]:
    """All rows of all files as columns: numbers as float64 (NaN if empty), clipped to their bounds."""
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


def pooled_answer(spec: dict[str, Any], data: dict[str, np.ndarray], schema: DatasetSchema) -> dict[str, Any]:
    kind = spec["kind"]
    if kind == "linear_regression":
        return _regression(data, spec["features"], spec["target"])
    values = data[spec["field"]] if spec.get("field") else None
    groups: list[str | None] = [None]
    if spec.get("group_by"):
        groups = list(schema.field(spec["group_by"]).categories or [])
    out = []
    for group in groups:
        mask = np.ones(len(next(iter(data.values()))), dtype=bool)
        if group is not None:
            mask &= data[spec["group_by"]] == group
        if values is not None:
            mask &= ~np.isnan(values)
        out.append(
            {"group": group, **_statistics(kind, values[mask] if values is not None else None, spec, mask)}
        )
    return {"groups": out}


def _statistics(kind: str, x: np.ndarray | None, spec: dict[str, Any], mask: np.ndarray) -> dict[str, Any]:
    if kind == "count" or x is None:
        return {"n": int(mask.sum())}
    if kind == "histogram":
        counts, _ = np.histogram(x, bins=np.array(spec["bins"]))
        return {"n": len(x), "counts": [int(c) for c in counts]}
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
