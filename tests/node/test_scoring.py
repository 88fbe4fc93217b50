"""A node's part in encrypted scoring: its monomial sums (DuckDB) against numpy, and its input checks."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from contracts.jobspec import JobSpec, vector_layout
from contracts.scoring import count_positions, monomial_sums
from coordinator.localspace.demo_check import read_factory  # clips to the bounds, NaN for empty
from node import local_compute
from node.exceptions import JobRefused
from node.sampledata import generate, profile_schema
from node.scoring import MAX_INPUT_BYTES, InputBuffer, open_input
from protocols import he
from protocols.he import query

DIGEST = "0" * 64


def scoring_spec(schema_name: str, features: list[str], degree: int, **extra: Any) -> JobSpec:
    return JobSpec.model_validate(
        {"kind": "encrypted_scoring", "dataset": schema_name, "features": features, "degree": degree,
         "outputs": ["score"], "he_params": "ckks-8192", "input_digest": DIGEST, **extra}
    )  # fmt: skip


@pytest.mark.parametrize("degree", [1, 2, 3])
def test_monomial_sums_equal_numpy_on_the_clipped_scaled_rows(tmp_path: Path, degree: int) -> None:
    schema = profile_schema("steel")
    path = tmp_path / "steel.csv"
    generate(path, rows=500, seed=3)
    features = ["furnace_temp_c", "scrap_ratio", "energy_kwh_per_t"]
    spec = scoring_spec(schema.name, features, degree, group_by="line")
    layout = vector_layout(spec, schema)
    computed = monomial_sums(layout, local_compute.local_vector(spec, schema, [path], "csv"))
    columns = read_factory([path], schema)
    x = np.stack([columns[name] for name in features], axis=1)
    groups = columns["line"]
    keep = ~np.isnan(x).any(axis=1) & np.isin(groups, schema.field("line").categories or [])
    fields = [schema.field(name) for name in features]
    bounds = he.FeatureBounds(tuple(f.lower for f in fields), tuple(f.upper for f in fields))
    index = {g: i for i, g in enumerate(layout.groups)}
    labels = np.array([index[g] for g in groups[keep]])
    expected = he.monomial_sums(x[keep], bounds, degree, groups=labels, n_groups=len(layout.groups))
    np.testing.assert_allclose(computed, expected, rtol=1e-12, atol=1e-9)
    assert computed[:, 0].sum() == keep.sum()  # the constant monomial is the row count


def test_the_count_view_is_each_groups_row_count_and_indicator() -> None:
    schema = profile_schema("steel")
    layout = vector_layout(scoring_spec(schema.name, ["scrap_ratio"], 2, group_by="line"), schema)
    names = [layout.names[i] for i in count_positions(layout)]
    groups = layout.groups
    assert names == [n for g in groups for n in (f"n[line={g}]", f"cohort(encrypted_scoring)[line={g}]")]


def _query(owner: he.KeyOwner, *, context: bytes | None = None, outputs: int = 1) -> bytes:
    encrypted = [he.encrypt_query(owner.public, [1.0, 2.0])] * outputs
    return query.build(context or owner.public_context(), "ckks-8192", encrypted)


@pytest.fixture(scope="module")
def owner() -> he.KeyOwner:
    return he.KeyOwner(he.CKKS_8192, galois_keys=True, n_threads=2)


def test_an_input_is_used_only_if_it_is_the_one_the_spec_names(owner: he.KeyOwner) -> None:
    data = _query(owner)
    spec = scoring_spec("steel_production", ["scrap_ratio"], 1, input_digest=hashlib.sha256(data).hexdigest())
    public, queries = open_input(data, spec)
    assert public.fingerprint == hashlib.sha256(owner.public_context()).hexdigest() and len(queries) == 1
    with pytest.raises(JobRefused) as missing:
        open_input(None, spec)
    assert missing.value.code == "missing_input"
    with pytest.raises(JobRefused) as swapped:
        open_input(_query(owner, outputs=1) + b"", spec.model_copy(update={"input_digest": DIGEST}))
    assert swapped.value.code == "input_digest"


def test_a_context_with_the_secret_key_is_refused_before_it_is_loaded(owner: he.KeyOwner) -> None:
    """A coordinator (or buyer) sending the secret key along cannot make a node hold it."""
    data = _query(owner, context=owner.secret_bytes())
    spec = scoring_spec("steel_production", ["scrap_ratio"], 1, input_digest=hashlib.sha256(data).hexdigest())
    with pytest.raises(JobRefused) as refused:
        open_input(data, spec)
    assert refused.value.code == "secret_key_in_context"


def test_a_query_with_other_outputs_than_the_spec_is_malformed(owner: he.KeyOwner) -> None:
    data = _query(owner, outputs=2)
    spec = scoring_spec("steel_production", ["scrap_ratio"], 1, input_digest=hashlib.sha256(data).hexdigest())
    with pytest.raises(JobRefused) as refused:
        open_input(data, spec)
    assert refused.value.code == "malformed_input"


def test_input_pieces_must_arrive_in_order_and_within_the_total() -> None:
    buffer = InputBuffer(10)
    buffer.add(0, 10, b"01234")
    with pytest.raises(JobRefused):
        buffer.add(3, 10, b"xx")  # overlaps
    with pytest.raises(JobRefused):
        buffer.add(5, 11, b"56789")  # another total
    with pytest.raises(JobRefused):
        buffer.add(5, 10, b"567890")  # past the total
    buffer.add(5, 10, b"56789")
    assert buffer.complete and bytes(buffer.data) == b"0123456789"
    with pytest.raises(JobRefused) as large:
        InputBuffer(MAX_INPUT_BYTES + 1)
    assert large.value.code == "input_too_large"
