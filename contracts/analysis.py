"""Turn the securely summed statistics vector of a job into its JSON-ready result.

Only the sum over all contributing factories reaches this code: it reads the layout of
``contracts.jobspec.vector_layout`` back (undoing the centring) and never sees a single factory's vector.
Each cell is released or withheld by ``contracts.privacy.decide_cells``; with differential privacy the
figures come from noised sums, and each states its expected error.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np
from numpy.typing import NDArray

from contracts.exceptions import AnalysisError, SingularMatrixError
from contracts.jobspec import JobKind, JobSpec, VectorLayout, vector_layout
from contracts.privacy import CellDecision, NoiseReport, ReleaseRules, decide_cells
from contracts.schema import DatasetSchema

FloatArray = NDArray[np.float64]

# Beyond this condition number (of the normal matrix scaled to unit diagonal) a regression is treated as
# singular: the coefficients would be dominated by rounding and fixed-point noise.
MAX_CONDITION = 1e12
# Counts arrive through fixed-point aggregation, so they are exact integers up to decoding slack.
_COUNT_SLACK = 1e-3
# Replicates of the parametric bootstrap that turns noise scales into the error of each derived figure.
ERROR_REPLICATES = 200


def finalize(
    spec: JobSpec,
    schema: DatasetSchema,
    summed: NDArray[Any],
    rules: ReleaseRules,
    noise: NoiseReport | None = None,
    rng: np.random.Generator | None = None,
) -> dict[str, Any]:
    """Compute the result of ``spec`` from the vector summed over the contributing factories."""
    layout = vector_layout(spec, schema)
    vector = _checked_vector(summed, layout)
    if noise is None:
        _check_counts(layout, vector)
    decisions = decide_cells(layout, vector, rules)
    released = [d.contributors for row in decisions for d in row if d.released]
    result: dict[str, Any] = {
        "kind": spec.kind.value,
        "dataset": spec.dataset,
        "contributors": min(released, default=0),
    }
    if noise is not None:
        result["privacy"] = noise.summary()
    stats = _Statistics(spec, layout, noise, rng or np.random.default_rng())
    if spec.kind is JobKind.LINEAR_REGRESSION:
        decision = decisions[0][0]
        if not decision.released:
            return result | {"target": spec.target, "features": list(spec.features)} | _withheld(decision)
        return result | stats.regression(vector)
    if spec.field is not None:
        result |= {"field": spec.field, "unit": schema.field(spec.field).unit}
    if spec.kind is JobKind.HISTOGRAM:
        result["edges"] = [float(e) for e in spec.bins or []]
    result["group_by"] = spec.group_by
    result["groups"] = [
        {"group": group} | stats.group(vector, i, decisions[i]) for i, group in enumerate(layout.groups)
    ]
    return result


def _withheld(decision: CellDecision) -> dict[str, Any]:
    return {"suppressed": True, "reason": decision.reason, "code": decision.code}


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


def _check_counts(layout: VectorLayout, vector: FloatArray) -> None:
    """Row counts and cohort indicators of an exact sum are non-negative integers."""
    for group in range(len(layout.groups)):
        terms = layout.group_slice(group)
        for cell in layout.cells:
            _count(float(vector[terms.start + cell.rows_term]))
        for indicator in vector[layout.indicator_slice(group)]:
            _count(float(indicator))


def _count(value: float, noised: bool = False) -> int:
    """An aggregated count; a noised one is rounded and kept non-negative (post-processing)."""
    rounded = round(value)
    if noised:
        return max(rounded, 0)
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


def moments(kind: JobKind, v: FloatArray, centre: float, noised: bool = False) -> dict[str, Any]:
    """Count, sum, mean or variance of one group from its terms (moments about ``centre``)."""
    n = _count(float(v[0]), noised)
    if kind is JobKind.COUNT:
        return {"n": n}
    mean_offset = float(v[1]) / n if n else math.nan
    if kind is JobKind.SUM:
        return {"n": n, "sum": _num(float(v[1]) + n * centre) if n else None}
    mean = _num(centre + mean_offset) if n else None
    if kind is JobKind.MEAN:
        return {"n": n, "mean": mean}
    variance = None
    if n >= 2:
        # Sum of squared deviations from the mean, from moments about the centre; centring keeps the
        # cancellation small, and fixed-point or privacy noise can push it below zero.
        m2 = max(float(v[2]) - float(v[1]) * mean_offset, 0.0)
        variance = m2 / (n - 1)
    return {
        "n": n,
        "mean": mean,
        "variance": _num(variance) if variance is not None else None,
        "std": _num(math.sqrt(variance)) if variance is not None else None,
    }


class _Statistics:
    """The released figures of each group or of the fit, with their expected error under noise."""

    def __init__(
        self, spec: JobSpec, layout: VectorLayout, noise: NoiseReport | None, rng: np.random.Generator
    ) -> None:
        self.spec, self.layout, self.noise, self.rng = spec, layout, noise, rng
        self.centre = layout.centres.get(spec.field or "", 0.0)

    @property
    def noised(self) -> bool:
        return self.noise is not None

    def group(self, vector: FloatArray, index: int, decisions: list[CellDecision]) -> dict[str, Any]:
        terms = self.layout.group_slice(index)
        if self.spec.kind is JobKind.HISTOGRAM:
            return self._histogram(vector[terms], decisions, terms)
        decision = decisions[0]
        if not decision.released:
            return _withheld(decision)
        kind, centre, noised = self.spec.kind, self.centre, self.noised
        figures = {"contributors": decision.contributors} | moments(kind, vector[terms], centre, noised)
        if self.noise is not None:
            figures["error"] = self._errors(
                lambda v: moments(kind, v, centre, True), vector[terms], self.noise.std[terms]
            )
        return figures

    def _histogram(self, v: FloatArray, decisions: list[CellDecision], terms: slice) -> dict[str, Any]:
        cells = [
            _count(float(c), self.noised) if d.released else None for c, d in zip(v, decisions, strict=True)
        ]
        withheld = [
            {"cell": cell.label, "reason": d.reason, "code": d.code}
            for cell, d in zip(self.layout.cells, decisions, strict=True)
            if not d.released
        ]
        released = [d.contributors for d in decisions if d.released]
        figures: dict[str, Any] = {
            "contributors": min(released, default=0),
            "n": None if withheld else sum(c or 0 for c in cells),
            "counts": cells[1:],
            "out_of_range": cells[0],
        }
        if withheld:
            figures["withheld"] = withheld
        if self.noise is not None:
            figures["error"] = {"count": float(self.noise.std[terms][0])}
        return figures

    def regression(self, vector: FloatArray) -> dict[str, Any]:
        terms = self.layout.group_slice(0)
        fit = _regression(self.spec, self.layout, vector[terms], self.noised)
        fit["contributors"] = max(round(float(vector[self.layout.indicator_slice(0)][0])), 0)
        if self.noise is not None:
            errors = self._errors(
                lambda v: _flat_fit(_regression(self.spec, self.layout, v, True)),
                vector[terms],
                self.noise.std[terms],
            )
            fit["error"] = errors
        return fit

    def _errors(
        self, figures_of: Callable[[FloatArray], dict[str, Any]], v: FloatArray, std: FloatArray
    ) -> dict[str, float]:
        """Parametric bootstrap: the spread of each figure when the noise is drawn again around ``v``."""
        samples: dict[str, list[float]] = {}
        for _ in range(ERROR_REPLICATES):
            try:
                replicate = figures_of(v + self.rng.normal(0.0, 1.0, v.shape) * std)
            except AnalysisError:
                continue
            for key, value in replicate.items():
                if isinstance(value, int | float) and value is not None and math.isfinite(value):
                    samples.setdefault(key, []).append(float(value))
        return {key: float(np.std(values)) for key, values in samples.items() if len(values) > 1}


def _flat_fit(fit: dict[str, Any]) -> dict[str, Any]:
    flat = {f"coefficient:{k}": v for k, v in fit["coefficients"].items()}
    return flat | {"r_squared": fit["r_squared"], "n": fit["n"]}


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


def _regression(spec: JobSpec, layout: VectorLayout, v: FloatArray, noised: bool = False) -> dict[str, Any]:
    features, target = list(spec.features), spec.target or ""
    p = len(features)
    a, b, ww = _normal_equations(p, v)
    n = _count(float(a[0, 0]), noised)
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
