"""A job's result as one row per figure: its value, the errors the result states, whether it was withheld.

The SDK's ``JobResult.frame()`` and the CLI's bars and figures (``coordinator.client.plots``) read results
through this module only; it needs neither pandas nor matplotlib.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import asdict, dataclass
from statistics import NormalDist
from typing import Any

# Half-width of a 95 % interval in standard deviations, normal approximation.
Z95 = NormalDist().inv_cdf(0.975)
COLUMNS = (
    "group",
    "figure",
    "value",
    "noise_std",
    "std_error",
    "ci_low",
    "ci_high",
    "fixed_point_max_abs_error",
    "withheld",
    "reason",
    "contributors",
    "bin_low",
    "bin_high",
)
# Keys of a group that describe it rather than being a figure of it.
_NOT_FIGURES = frozenset({"group", "contributors", "error", "suppressed", "reason", "code", "withheld"})
# What a withheld group of each kind would have shown (the JSON names no figure for it).
_FIGURES_OF_KIND = {
    "count": ("n",),
    "sum": ("n", "sum"),
    "mean": ("n", "mean"),
    "variance": ("n", "mean", "variance", "std"),
}


@dataclass(frozen=True)
class Figure:
    """One released (or withheld) figure of one group; ``None`` where the result states nothing."""

    group: str | None
    figure: str
    value: float | None
    noise_std: float | None = None  # standard deviation of the privacy noise in this figure
    std_error: float | None = None  # sampling standard error (a regression's coefficients)
    withheld: bool = False
    reason: str | None = None
    contributors: int | None = None
    bin_low: float | None = None
    bin_high: float | None = None

    @property
    def error(self) -> float | None:
        """The standard deviation the stated errors add up to, taken as independent."""
        parts = [e for e in (self.noise_std, self.std_error) if e is not None]
        return math.sqrt(sum(e * e for e in parts)) if parts else None

    def interval(self) -> tuple[float | None, float | None]:
        """The 95 % interval value ± 1.96 × ``error`` (normal approximation); None when no error is stated."""
        error = self.error
        if self.value is None or error is None:
            return None, None
        return self.value - Z95 * error, self.value + Z95 * error


def figures(result: dict[str, Any]) -> list[Figure]:
    """Every figure of a statistics result, group by group, withheld ones included (``value`` None)."""
    kind = str(result.get("kind"))
    if kind == "extract":
        raise ValueError("an extract releases rows, not figures")
    if kind == "linear_regression":
        return _regression(result)
    if kind == "histogram":
        return [f for group in result.get("groups", []) for f in _histogram(result, group)]
    return [f for group in result.get("groups", []) for f in _statistics(kind, group)]


def rows(result: dict[str, Any]) -> list[dict[str, Any]]:
    """``figures`` as dicts with the ``COLUMNS``, NaN for every unstated number (what pandas expects)."""
    fixed_point = result.get("fixed_point_max_abs_error")
    out = []
    for figure in figures(result):
        low, high = figure.interval()
        row = asdict(figure) | {"ci_low": low, "ci_high": high, "fixed_point_max_abs_error": fixed_point}
        out.append(
            {c: math.nan if row[c] is None and c not in ("group", "reason") else row[c] for c in COLUMNS}
        )
    return out


def is_grouped(result: dict[str, Any]) -> bool:
    return result.get("group_by") is not None


def bin_label(low: float, high: float, closed: bool) -> str:
    """A bin as numpy counts it: closed on the left, and on the right for the last bin only."""
    return f"[{_edge(low)}, {_edge(high)}{']' if closed else ')'}"


def _edge(value: float) -> str:
    """An edge in full: close edges must not print alike (``:g`` keeps six digits)."""
    return str(int(value)) if value.is_integer() and abs(value) < 1e15 else repr(value)


def _number(value: Any) -> float | None:
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None


def _statistics(kind: str, group: dict[str, Any]) -> list[Figure]:
    name = group.get("group")
    if group.get("suppressed"):
        reason = group.get("reason")
        return [
            Figure(name, f, None, withheld=True, reason=reason) for f in _FIGURES_OF_KIND.get(kind, (kind,))
        ]
    errors = group.get("error") or {}
    contributors = group.get("contributors")
    return [
        Figure(name, key, _number(value), _number(errors.get(key)), contributors=contributors)
        for key, value in group.items()
        if key not in _NOT_FIGURES and (value is None or _number(value) is not None)
    ]


def _histogram(result: dict[str, Any], group: dict[str, Any]) -> list[Figure]:
    """The rows outside the edges, then each bin; withheld cells pair with ``withheld`` in cell order."""
    name, edges = group.get("group"), [float(e) for e in result.get("edges", [])]
    counts = group.get("counts") or [None] * max(len(edges) - 1, 0)
    cells = [group.get("out_of_range"), *counts]
    if group.get("suppressed"):
        reasons = [group.get("reason")] * len(cells)
    else:
        reasons = [w.get("reason") for w in group.get("withheld") or []]
    noise = _number((group.get("error") or {}).get("count"))
    bins: list[tuple[str, float | None, float | None]] = [("out_of_range", None, None)]
    bins += [
        (bin_label(lo, hi, i == len(edges) - 2), lo, hi)
        for i, (lo, hi) in enumerate(itertools.pairwise(edges))
    ]
    out = []
    for (label, low, high), count in zip(bins, cells, strict=False):
        if count is None:  # a withheld cell: no value, error or count of factories, only the reason
            reason = reasons.pop(0) if reasons else None
            out.append(Figure(name, label, None, withheld=True, reason=reason, bin_low=low, bin_high=high))
        else:
            contributors = group.get("contributors")
            out.append(
                Figure(
                    name, label, float(count), noise, contributors=contributors, bin_low=low, bin_high=high
                )
            )
    return out


def _regression(result: dict[str, Any]) -> list[Figure]:
    names = ["intercept", *result.get("features", [])]
    if result.get("suppressed"):
        reason = result.get("reason")
        keys = [*(f"coefficient:{n}" for n in names), "r_squared", "n"]
        return [Figure(None, key, None, withheld=True, reason=reason) for key in keys]
    errors, std_errors = result.get("error") or {}, result.get("std_errors") or {}
    contributors = result.get("contributors")
    out = [
        Figure(
            None,
            f"coefficient:{n}",
            _number(result["coefficients"].get(n)),
            _number(errors.get(f"coefficient:{n}")),
            _number(std_errors.get(n)),
            contributors=contributors,
        )
        for n in names
    ]
    for key in ("r_squared", "residual_std_error", "n", "dof"):
        out.append(
            Figure(None, key, _number(result.get(key)), _number(errors.get(key)), contributors=contributors)
        )
    return out
