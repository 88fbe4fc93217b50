"""The buyer's side of encrypted scoring: its private model, the encrypted query, and reading the result.

The model file (JSON) is the buyer's secret: features, weights, bias and the outputs wanted, e.g.

    {"features": ["temperature_c", "pressure_bar"], "weights": [0.004, -0.01], "bias": -2.0,
     "outputs": [{"name": "score", "function": "sum"},
                 {"name": "defect_probability", "function": "logistic", "degree": 3},
                 {"name": "high_risk", "function": "count_above", "threshold": 0.5}]}

Each output becomes coefficients on the monomials of the features scaled by the offer's public bounds
(``protocols.he.expand``), encrypted under the buyer's own key; only the encrypted query leaves the buyer. The
key file holds the secret key (mode 0600) and is made on first use. Reading a result decrypts each released
group's sums and states each figure's error: the differential-privacy noise (its standard deviation, from
the noise on every monomial sum), and a bound on the numeric error (CKKS, the nodes' fixed-point rounding,
and the polynomial approximation of a logistic or a threshold).
"""

from __future__ import annotations

import base64
import math
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, model_validator

from contracts.jobspec import JobKind
from contracts.schema import IDENTIFIER_PATTERN, DatasetSchema
from protocols import he
from protocols.he import query
from protocols.he.params import CKKSParams

PARAMETER_SET = he.CKKS_8192
Name = Annotated[str, Field(pattern=IDENTIFIER_PATTERN)]


class ScoreOutput(BaseModel):
    """One released sum per group: Σ f(w·x + b) for the output's f."""

    model_config = ConfigDict(extra="forbid")

    name: Name
    function: Literal["sum", "sum_of_squares", "logistic", "count_above"]
    threshold: float | None = Field(default=None, allow_inf_nan=False)
    degree: int = Field(default=3, ge=1, le=3, description="approximation degree (logistic, count_above)")

    @model_validator(mode="after")
    def _threshold_only_for_counts(self) -> ScoreOutput:
        if (self.function == "count_above") != (self.threshold is not None):
            raise ValueError("count_above needs a threshold, and only count_above takes one")
        return self


class ScoringModel(BaseModel):
    """A linear score w·x + b on raw feature values, and the functions of it to sum."""

    model_config = ConfigDict(extra="forbid")

    features: list[Name] = Field(min_length=1, max_length=16)
    weights: list[Annotated[float, Field(allow_inf_nan=False)]]
    bias: float = Field(allow_inf_nan=False)
    outputs: list[ScoreOutput] = Field(min_length=1, max_length=8)

    @model_validator(mode="after")
    def _shape(self) -> ScoringModel:
        if len(self.weights) != len(self.features):
            raise ValueError(f"{len(self.weights)} weights for {len(self.features)} features")
        if len({o.name for o in self.outputs}) != len(self.outputs):
            raise ValueError("output names must be distinct")
        return self

    @property
    def linear(self) -> he.LinearModel:
        return he.LinearModel(tuple(self.weights), self.bias)


def feature_bounds(model: ScoringModel, schema: DatasetSchema) -> he.FeatureBounds:
    """The offer's public bounds of the model's features, which the nodes clip and scale by."""
    missing = [name for name in model.features if not schema.has_field(name)]
    if missing:
        raise ValueError(f"dataset {schema.name!r} has no field {', '.join(missing)}")
    fields = [schema.field(name) for name in model.features]
    return he.FeatureBounds(tuple(f.lower for f in fields), tuple(f.upper for f in fields))


def polynomials(model: ScoringModel, bounds: he.FeatureBounds) -> list[he.ScorePolynomial]:
    """Each output's polynomial f; a logistic or a threshold is fitted on the scores' reachable range."""
    reach = he.score_range(model.linear, bounds)
    found = []
    for output in model.outputs:
        if output.function == "sum":
            found.append(he.identity())
        elif output.function == "sum_of_squares":
            found.append(he.square())
        elif output.function == "logistic":
            found.append(he.logistic(_widened(reach), degree=output.degree))
        else:
            found.append(he.smooth_step(output.threshold or 0.0, _widened(reach), degree=output.degree))
    return found


def _widened(reach: tuple[float, float]) -> tuple[float, float]:
    """A fit interval that is never empty (a constant score) and holds every reachable score."""
    lo, hi = reach
    pad = max(1e-6, (hi - lo) * 1e-9)
    return lo - pad, hi + pad


def load_or_create_key(path: Path) -> he.KeyOwner:
    """The buyer's HE key from ``path``, made and written there (mode 0600) on first use."""
    if path.exists():
        return he.KeyOwner.from_secret_bytes(path.read_bytes(), PARAMETER_SET, galois_keys=True)
    owner = he.KeyOwner(PARAMETER_SET, galois_keys=True)
    path.parent.mkdir(parents=True, exist_ok=True)
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(descriptor, "wb") as file:
        file.write(owner.secret_bytes())
    return owner


@dataclass(frozen=True)
class PreparedQuery:
    data: bytes  # the encoded encrypted query, to upload
    coefficients: tuple[np.ndarray, ...]  # per output, on the monomials up to ``degree``
    degree: int

    def spec_fields(self, model: ScoringModel, digest: str) -> dict[str, Any]:
        """What the job spec says about the query; nothing of the model but its features."""
        return {
            "kind": JobKind.ENCRYPTED_SCORING.value,
            "features": list(model.features),
            "degree": self.degree,
            "outputs": [o.name for o in model.outputs],
            "he_params": PARAMETER_SET.name,
            "input_digest": digest,
        }


def prepare(model: ScoringModel, bounds: he.FeatureBounds, owner: he.KeyOwner) -> PreparedQuery:
    """Expand every output on one monomial basis (the highest degree) and encrypt it."""
    fs = polynomials(model, bounds)
    degree = max(f.degree for f in fs)
    size = he.monomial_count(bounds.dimension, degree)
    coefficients = []
    for f in fs:
        padded = np.zeros(size)
        expanded = he.expand(model.linear, f, bounds)  # its own degree's basis is a prefix of ours
        padded[: len(expanded)] = expanded
        coefficients.append(padded)
    if size > he.max_monomials(PARAMETER_SET):
        raise ValueError(f"{size} monomials exceed the {he.max_monomials(PARAMETER_SET)} slots of the key")
    encrypted = [he.encrypt_query(owner.public, c) for c in coefficients]
    data = query.build(owner.public_context(), PARAMETER_SET.name, encrypted)
    return PreparedQuery(data, tuple(coefficients), degree)


def read_scores(
    result: dict[str, Any], model: ScoringModel, bounds: he.FeatureBounds, owner: he.KeyOwner
) -> list[dict[str, Any]]:
    """Per group: its row count and, if released, each output's value with its stated error."""
    fs = polynomials(model, bounds)
    degree = int(result["degree"])
    size = he.monomial_count(bounds.dimension, degree)
    noise_std = np.asarray(result.get("monomial_noise_std") or [0.0] * size, dtype=np.float64)
    params = owner.params
    assert isinstance(params, CKKSParams)
    contributors = max(int(result.get("contributors") or 0), 1)
    rounding = float(result.get("fixed_point_max_abs_error") or 0.0)
    rows = []
    for group in result["groups"]:
        row: dict[str, Any] = {"group": group.get("group"), "rows": group.get("n")}
        if group.get("suppressed"):
            rows.append(row | {"suppressed": True, "reason": group.get("reason")})
            continue
        count = float(group.get("n") or 0.0)
        outputs = {}
        for output, f in zip(model.outputs, fs, strict=True):
            c = np.zeros(size)
            expanded = he.expand(model.linear, f, bounds)
            c[: len(expanded)] = expanded
            blob = base64.b64decode(group["encrypted"][output.name])
            value = float(he.decrypt_scores(owner, [blob])[0])
            numeric = he.error_bound(params, c, [size * max(count, 0.0)] + [0.0] * (contributors - 1))
            numeric += float(np.abs(c).sum()) * rounding  # each monomial sum is rounded on each node
            outputs[output.name] = {
                "value": value,
                "noise_std": float(math.sqrt(float(np.sum(c**2 * noise_std**2)))),
                "numeric_error": numeric,
                "approximation_error": f.max_error * max(count, 0.0),
            }
        rows.append(row | {"outputs": outputs})
    return rows
