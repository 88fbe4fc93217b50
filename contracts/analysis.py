"""Turn the securely summed statistics vector of a job into its JSON-ready result.

Only the sum over all contributing factories reaches this code: it reads the layout of
``contracts.jobspec.vector_layout`` back (undoing the centring) and never sees a single factory's vector.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
from numpy.typing import NDArray

from contracts.exceptions import AnalysisError, SingularMatrixError
from contracts.jobspec import JobKind, JobSpec, VectorLayout, vector_layout
from contracts.schema import DatasetSchema

FloatArray = NDArray[np.float64]

# Beyond this condition number (of the normal matrix scaled to unit diagonal) a regression is treated as
# singular: the coefficients would be dominated by rounding and fixed-point noise.
MAX_CONDITION = 1e12
# Counts arrive through fixed-point aggregation, so they are exact integers up to decoding slack.
_COUNT_SLACK = 1e-3


def finalize(spec: JobSpec, schema: DatasetSchema, summed: NDArray[Any], contributors: int) -> dict[str, Any]:
    """Compute the result of ``spec`` from the vector summed over ``contributors`` factories."""
    layout = vector_layout(spec, schema)
    vector = _checked_vector(summed, layout)
    if contributors < spec.min_participants:
        raise AnalysisError(
            f"{contributors} contributors, the job needs at least {spec.min_participants}",
            code="too_few_participants",
            details={"contributors": contributors, "min_participants": spec.min_participants},
        )
    result: dict[str, Any] = {"kind": spec.kind.value, "dataset": spec.dataset, "contributors": contributors}
    if spec.kind is JobKind.LINEAR_REGRESSION:
        return result | _regression(spec, layout, vector)
    if spec.field is not None:
        result |= {"field": spec.field, "unit": schema.field(spec.field).unit}
    if spec.kind is JobKind.HISTOGRAM:
        result["edges"] = [float(e) for e in spec.bins or []]
    result["group_by"] = spec.group_by
    centre = layout.centres.get(spec.field or "", 0.0)
    result["groups"] = [
        {"group": group} | _group_statistics(spec.kind, vector[layout.group_slice(i)], centre)
        for i, group in enumerate(layout.groups)
    ]
    return result


def _checked_vector(summed: NDArray[Any], layout: VectorLayout) -> FloatArray:
    vector = np.asarray(summed, dtype=np.float64)
    if vector.shape != (layout.length,):
        raise AnalysisError(
            f"summed vector has shape {vector.shape}, the layout needs ({layout.length},)",
            code="vector_length_mismatch",
            details={"expected": layout.length, "got": list(vector.shape)},
        )
    if not np.all(np.isfinite(vector)):
        raise AnalysisError("summed vector has non-finite entries", code="invalid_aggregate")
    return vector


def _count(value: float) -> int:
    rounded = round(value)
    if rounded < 0 or abs(value - rounded) > _COUNT_SLACK:
        raise AnalysisError(
            f"aggregated count {value!r} is not a non-negative integer",
            code="invalid_aggregate",
            details={"value": value},
        )
    return int(rounded)


def _num(value: float) -> float | None:
    """Make a JSON-safe float: non-finite values become null."""
    value = float(value)
    return value if math.isfinite(value) else None


def _group_statistics(kind: JobKind, v: FloatArray, centre: float) -> dict[str, Any]:
    n = _count(float(v[0]))
    if kind is JobKind.COUNT:
        return {"n": n}
    if kind is JobKind.HISTOGRAM:
        counts = [_count(float(c)) for c in v[1:]]
        return {"n": n, "counts": counts, "out_of_range": max(n - sum(counts), 0)}
    mean_offset = float(v[1]) / n if n else math.nan
    if kind is JobKind.SUM:
        return {"n": n, "sum": _num(float(v[1]) + n * centre) if n else None}
    mean = _num(centre + mean_offset) if n else None
    if kind is JobKind.MEAN:
        return {"n": n, "mean": mean}
    variance = None
    if n >= 2:
        # Sum of squared deviations from the mean, from moments about the centre; centring keeps the
        # cancellation small, and fixed-point noise can push it a hair below zero.
        m2 = max(float(v[2]) - float(v[1]) * mean_offset, 0.0)
        variance = m2 / (n - 1)
    return {
        "n": n,
        "mean": mean,
        "variance": _num(variance) if variance is not None else None,
        "std": _num(math.sqrt(variance)) if variance is not None else None,
    }


def _normal_equations(p: int, v: FloatArray) -> tuple[FloatArray, FloatArray, float]:
    """Rebuild ``[1 z]ᵀ[1 z]``, ``[1 z]ᵀw`` and ``wᵀw`` (centred variables) from the vector."""
    a = np.empty((p + 1, p + 1))
    a[0, 0] = v[0]
    a[0, 1:] = a[1:, 0] = v[1 : 1 + p]
    pos = 1 + p
    for j in range(p):
        width = p - j
        a[1 + j, 1 + j :] = v[pos : pos + width]
        a[1 + j :, 1 + j] = v[pos : pos + width]
        pos += width
    b = np.empty(p + 1)
    b[1:] = v[pos : pos + p]
    b[0] = v[pos + p]
    return a, b, float(v[pos + p + 1])


def _solve(a: FloatArray, b: FloatArray) -> tuple[FloatArray, FloatArray]:
    """Return the solution of ``a x = b`` and ``a⁻¹``, refusing near-singular systems."""
    diagonal = np.diag(a)
    if np.any(diagonal <= 0):
        raise SingularMatrixError("a regression variable is constant or absent", code="singular_matrix")
    scale = 1.0 / np.sqrt(diagonal)
    scaled = a * np.outer(scale, scale)  # unit diagonal, so the condition number ignores units
    condition = float(np.linalg.cond(scaled))
    if not condition < MAX_CONDITION:
        raise SingularMatrixError(
            "the regression design matrix is singular (collinear features or too few rows)",
            code="singular_matrix",
            details={"condition": condition if math.isfinite(condition) else None},
        )
    inverse = np.linalg.inv(scaled) * np.outer(scale, scale)
    return inverse @ b, inverse


def _regression(spec: JobSpec, layout: VectorLayout, v: FloatArray) -> dict[str, Any]:
    features, target = list(spec.features), spec.target or ""
    p = len(features)
    a, b, ww = _normal_equations(p, v)
    n = _count(float(a[0, 0]))
    beta, inverse = _solve(a, b)
    centres = np.array([layout.centres[f] for f in features])
    # w - c_y = beta0 + Σ beta_j (x_j - c_j)  =>  intercept for the raw variables shifts by c_y - beta·c.
    intercept = layout.centres[target] + float(beta[0]) - float(beta[1:] @ centres)
    dof = n - p - 1
    rss = max(ww - float(beta @ b), 0.0)
    tss = ww - float(b[0]) ** 2 / n
    names = ["intercept", *features]
    errors: dict[str, float | None] = dict.fromkeys(names)
    sigma = None
    if dof > 0:
        sigma2 = rss / dof
        sigma = math.sqrt(sigma2)
        transform = np.concatenate(([1.0], -centres))  # gradient of the raw intercept w.r.t. beta
        variances = [float(transform @ inverse @ transform), *np.diag(inverse)[1:]]
        errors = {
            name: _num(math.sqrt(max(sigma2 * var, 0.0))) for name, var in zip(names, variances, strict=True)
        }
    return {
        "target": target,
        "features": features,
        "coefficients": dict(zip(names, [_num(intercept), *(_num(c) for c in beta[1:])], strict=True)),
        "std_errors": errors,
        "r_squared": _num(1.0 - rss / tss) if tss > 0 else None,
        "residual_std_error": _num(sigma) if sigma is not None else None,
        "n": n,
        "dof": dof,
    }
