"""Output privacy of a job: which cells a factory contributes, and which summed cells may be released.

A released figure is a *cell* (see ``contracts.jobspec.Cell``). A factory contributes a cell only when at
least ``min_rows_per_factory`` of its rows fall in it, and adds a 0/1 indicator saying so; the indicators
are summed inside secure aggregation, so the coordinator learns how many factories qualified for a cell,
never which. A summed cell is released only when that count reaches the contract's min cohort and the
cell's rows reach ``min_cell_rows``; otherwise it is withheld with a reason.
"""

from __future__ import annotations

import dataclasses
from enum import StrEnum

import numpy as np
from numpy.typing import NDArray
from pydantic import BaseModel, ConfigDict, Field

from contracts.jobspec import VectorLayout

FloatArray = NDArray[np.float64]


class NoiseMode(StrEnum):
    """Where differential-privacy noise is added when a contract carries an epsilon budget."""

    DISTRIBUTED = "distributed"  # each node adds a share inside its masked vector: nobody sees an exact sum
    CENTRAL = "central"  # the coordinator adds it after unmasking, before anything is released


class PrivacyTerms(BaseModel):
    """The output-privacy terms of an offer or a contract (the strictest of the offers' terms)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    min_rows_per_factory: int = Field(default=10, ge=1, le=1_000_000)
    min_cell_rows: int = Field(default=30, ge=1, le=1_000_000_000)
    noise_mode: NoiseMode = NoiseMode.DISTRIBUTED
    delta: float = Field(default=1e-6, gt=0, le=1e-3, allow_inf_nan=False)


def strictest_terms(terms: list[PrivacyTerms]) -> PrivacyTerms:
    """Every offer's floor holds: largest minimums, smallest delta, central noise only if all agree."""
    if not terms:
        return PrivacyTerms()
    central = all(t.noise_mode is NoiseMode.CENTRAL for t in terms)
    return PrivacyTerms(
        min_rows_per_factory=max(t.min_rows_per_factory for t in terms),
        min_cell_rows=max(t.min_cell_rows for t in terms),
        noise_mode=NoiseMode.CENTRAL if central else NoiseMode.DISTRIBUTED,
        delta=min(t.delta for t in terms),
    )


# ------------------------------------------------------------------------------------------ node side


@dataclasses.dataclass(frozen=True)
class GatedVector:
    vector: FloatArray
    cells: int  # cells over all groups
    qualifying: int  # cells this factory contributes
    rows: int  # rows behind the cells it contributes
    matched: int  # rows the job's filters matched


def gate_cells(layout: VectorLayout, vector: FloatArray, min_rows_per_factory: int) -> GatedVector:
    """Zero every cell with fewer than ``min_rows_per_factory`` rows and set the cohort indicators."""
    gated = np.array(vector, dtype=np.float64, copy=True)
    qualifying = rows = matched = 0
    for group in range(len(layout.groups)):
        terms, indicators = layout.group_slice(group), layout.indicator_slice(group)
        for index, cell in enumerate(layout.cells):
            cell_rows = float(gated[terms.start + cell.rows_term])
            matched += round(cell_rows)
            if cell_rows >= min_rows_per_factory:
                gated[indicators.start + index] = 1.0
                qualifying += 1
                rows += round(cell_rows)
            else:
                for term in cell.terms:
                    gated[terms.start + term] = 0.0
                gated[indicators.start + index] = 0.0
    return GatedVector(gated, len(layout.groups) * len(layout.cells), qualifying, rows, matched)


# ----------------------------------------------------------------------------------- coordinator side


@dataclasses.dataclass(frozen=True)
class ReleaseRules:
    min_cohort: int
    min_cell_rows: int
    min_rows_per_factory: int


@dataclasses.dataclass(frozen=True)
class CellDecision:
    released: bool
    contributors: int  # factories that qualified for the cell
    reason: str | None = None
    code: str | None = None


def decide_cells(layout: VectorLayout, summed: FloatArray, rules: ReleaseRules) -> list[list[CellDecision]]:
    """Per group, per cell: release it or withhold it with a reason.

    The reason names the thresholds, never the count of qualifying factories of a withheld cell.
    """
    decisions = []
    for group in range(len(layout.groups)):
        terms, indicators = layout.group_slice(group), layout.indicator_slice(group)
        row = []
        for index, cell in enumerate(layout.cells):
            contributors = max(round(float(summed[indicators.start + index])), 0)
            cell_rows = float(summed[terms.start + cell.rows_term])
            row.append(_decide(contributors, cell_rows, rules))
        decisions.append(row)
    return decisions


def _decide(contributors: int, cell_rows: float, rules: ReleaseRules) -> CellDecision:
    if contributors < rules.min_cohort:
        reason = (
            f"fewer than {rules.min_cohort} factories have at least {rules.min_rows_per_factory} "
            "matching rows in this cell"
        )
        return CellDecision(False, contributors, reason, "min_cohort")
    if cell_rows < rules.min_cell_rows:
        return CellDecision(
            False, contributors, f"fewer than {rules.min_cell_rows} rows in this cell", "min_cell_rows"
        )
    return CellDecision(True, contributors)


@dataclasses.dataclass(frozen=True)
class NoiseReport:
    """The differential privacy a result was released under, and the noise in each summed statistic."""

    mechanism: str
    mode: NoiseMode
    epsilon: float
    delta: float
    rho: float
    term_labels: tuple[str, ...]
    term_std: tuple[float, ...]  # standard deviation of the noise in each term, in the term's own units
    std: FloatArray  # the same for every position of the summed vector (0 for the cohort indicators)

    def summary(self) -> dict[str, object]:
        return {
            "mechanism": self.mechanism,
            "mode": str(self.mode),
            "epsilon": self.epsilon,
            "delta": self.delta,
            "rho": self.rho,
            "noise_std": dict(zip(self.term_labels, self.term_std, strict=True)),
        }
