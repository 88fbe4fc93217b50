"""Encrypted scoring, plaintext side: what goes through secure aggregation and how the result is assembled.

A node computes, per group, the sums of every monomial of its scaled features (``jobspec.monomial_terms``),
gated and noised like any statistics vector (the full layout, whose first term is the row count). Only the
row count and the cohort indicator of each group go through secure aggregation — the *count view* — so that
the coordinator can withhold thin cells as for a count job; the monomial sums leave the node only inside the
buyer's ciphertexts, dotted with the buyer's encrypted coefficients.

The noise is drawn once, for the full layout, by each node (``noise.plan_noise`` forces distributed mode for
this kind): the count it releases and the sums it encrypts carry the same draw, so the buyer's scores are
post-processing of one differentially private release of all monomial sums, whatever coefficients it chose.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np
import numpy.typing as npt

from contracts.jobspec import JobKind, JobSpec, VectorLayout
from contracts.noise import NoisePlan

FloatArray = npt.NDArray[np.float64]


COUNTED_KINDS = frozenset({JobKind.ENCRYPTED_SCORING, JobKind.PSI_CARDINALITY})


def count_spec(spec: JobSpec) -> JobSpec:
    """The count job whose layout is what ``spec`` sends through secure aggregation (its count view).

    Same dataset, groups, filters and ε. Encrypted scoring and set intersection release their own figures
    outside secure aggregation (ciphertexts) or compute them first (a factory's common keys), so only a
    count per group goes through it, and the count job's release rules and noise report apply to it.
    """
    if spec.kind not in COUNTED_KINDS:
        raise ValueError(f"a count view is defined for {sorted(COUNTED_KINDS)}, not {spec.kind}")
    return JobSpec(
        kind=JobKind.COUNT,
        dataset=spec.dataset,
        group_by=spec.group_by,
        filters=spec.filters,
        min_participants=spec.min_participants,
        precision_bits=spec.precision_bits,
        epsilon=spec.epsilon,
    )


def count_positions(layout: VectorLayout) -> npt.NDArray[np.intp]:
    """Where the count view's entries sit in the full vector: per group, the row count then the indicator."""
    if len(layout.cells) != 1 or layout.cells[0].rows_term != 0:
        raise ValueError("the count view needs one cell per group whose rows are term 0")
    positions = []
    for group in range(len(layout.groups)):
        positions += [layout.group_slice(group).start, layout.indicator_slice(group).start]
    return np.array(positions, dtype=np.intp)


def monomial_sums(layout: VectorLayout, vector: npt.ArrayLike) -> FloatArray:
    """The groups × monomials table of the full vector, indicators left out."""
    values = np.asarray(vector, dtype=np.float64)
    return np.stack([values[layout.group_slice(g)] for g in range(len(layout.groups))])


def count_plan(plan: NoisePlan | None) -> NoisePlan | None:
    """The noise of the count view: the row count's term of the full plan (the same draw, nothing added)."""
    return None if plan is None else dataclasses.replace(plan, term_sigma=plan.term_sigma[:1])


def monomial_noise_std(plan: NoisePlan | None, layout: VectorLayout, shares_in_sum: int) -> list[float]:
    """The standard deviation of the noise on each pooled monomial sum (0 without differential privacy).

    The buyer turns it into the error of a score Σ c_α S_α as √(Σ c_α² std_α²): the draws are independent.
    """
    if plan is None:
        return [0.0] * len(layout.terms)
    return [float(s) for s in plan.report(layout, shares_in_sum).term_std]


def attach_scores(
    result: dict[str, Any], outputs: list[str], released: dict[int, list[str]]
) -> dict[str, Any]:
    """Add each released group's encrypted sums (base64, one per output) to the count result.

    ``released`` maps a group's index to its ciphertexts in output order; a withheld group has none, so
    its ciphertexts are never stored or handed out.
    """
    groups = []
    for index, group in enumerate(result["groups"]):
        if index in released:
            group = group | {"encrypted": dict(zip(outputs, released[index], strict=True))}
        groups.append(group)
    return result | {"kind": JobKind.ENCRYPTED_SCORING.value, "outputs": list(outputs), "groups": groups}
