"""A node's part in a set-intersection count: its keys (DuckDB, filters applied) and its gated count."""

from __future__ import annotations

import asyncio
import csv
import random
from pathlib import Path
from typing import Any, cast

import pytest

from contracts.jobspec import JobSpec, vector_layout
from contracts.schema import DatasetSchema
from node.exceptions import JobRefused
from node.local_compute import local_keys
from node.psi import PsiSumWork, PsiWork, blind, count_common, normalized
from protocols.psi import cardinality
from protocols.psi.dlog import DEFAULT_BOUND
from protocols.psi.messages import BlindedKeys
from protocols.psi.normalize import normalize_keys

SCHEMA = DatasetSchema.model_validate(
    {
        "name": "suppliers",
        "fields": [
            {"name": "code", "type": "text"},
            {"name": "grade", "type": "category", "categories": ["ore", "coal"]},
            {"name": "spend", "type": "number", "min": 0, "max": 100},
        ],
    }
)


def spec(**extra: Any) -> JobSpec:
    """A set-intersection spec; ``kind`` and ``field`` may be given to make it a sum."""
    return JobSpec.model_validate({"kind": "psi_cardinality", "dataset": "suppliers", "key_field": "code",
                                   "normalization": "part_number", **extra})  # fmt: skip


def test_keys_are_the_key_field_of_the_rows_the_filters_keep(tmp_path: Path) -> None:
    rng = random.Random(1)
    rows = [(f"P-{rng.randint(0, 50)}", rng.choice(["ore", "coal", "wood"]), str(rng.uniform(-5, 120)))
            for _ in range(300)] + [("", "ore", "1"), ("Q-1", "", "2")]  # fmt: skip
    path = tmp_path / "s.csv"
    with path.open("w", newline="", encoding="utf-8") as handle:
        csv.writer(handle).writerows([("code", "grade", "spend"), *rows])
    filters = [{"field": "grade", "op": "eq", "value": "ore"}, {"field": "spend", "op": "lt", "value": 50}]
    got = [key for (key,) in local_keys(spec(filters=filters), SCHEMA, [path], "csv")]
    # Python on the same rows: numbers clipped to [0, 100] before the filter, empty cells are no rows.
    expected = [code for code, grade, spend in rows
                if code and grade == "ore" and min(max(float(spend), 0), 100) < 50]  # fmt: skip
    assert sorted(got) == sorted(expected)


def _work(keys: list[str], min_rows: int) -> tuple[PsiWork, bytes]:
    layout = vector_layout(spec(), SCHEMA)
    privacy = type("P", (), {"min_rows_per_factory": min_rows})()
    contract = cast(Any, type("C", (), {"terms": type("T", (), {"privacy": privacy})()})())
    state, request = asyncio.run(blind(normalized(spec(), keys)))
    return PsiWork(spec(), contract, layout, None, state, len(keys)), request


@pytest.mark.parametrize("min_rows", [1, 10])
def test_the_count_is_the_overlap_of_normalised_keys_gated_at_the_minimum(min_rows: int) -> None:
    factory = [f"AB-{i}" for i in range(40)] + ["ab 3", "ＡＢ＿５"]  # duplicates once normalised
    buyer = [f"ab{i}" for i in range(35, 60)]  # AB-35 .. AB-39 in common: 5 keys
    work, request = _work(factory, min_rows)
    reply = cardinality.respond(
        normalize_keys("part_number", buyer), BlindedKeys.from_bytes(request), random.Random(2)
    )
    vector = count_common(work, reply.to_bytes())
    assert list(vector) == ([5.0, 1.0] if min_rows <= 5 else [0.0, 0.0])


def test_a_reply_that_is_not_points_is_refused() -> None:
    work, _ = _work(["A1", "A2"], 1)
    with pytest.raises(JobRefused) as refused:
        count_common(work, b"\x00" * 70)
    assert refused.value.code == "malformed_psi_reply"


def test_a_sum_rounds_values_to_whole_units_and_refuses_totals_past_its_share_of_the_bound() -> None:
    summed = spec(kind="psi_sum", field="spend")
    work = PsiSumWork.of(summed, [("AB-1", 2.4), ("ab1", 3.6), ("C-2", 7.0)], participants=3)
    assert dict(work.rows.items) == {"ab1": 6, "c2": 7}  # rows of one key are added up
    assert work.bound == DEFAULT_BOUND // 3
    request = cardinality.start(normalize_keys("part_number", ["ab1"]), random.Random(1))[1]
    huge = PsiSumWork.of(summed, [("X", float(DEFAULT_BOUND))], participants=1)
    with pytest.raises(JobRefused) as refused:
        huge.reply(request.to_bytes())
    assert refused.value.code == "psi_value_bound"
    with pytest.raises(JobRefused) as early:
        work.decrypt(b"")
    assert early.value.code == "unexpected_message"
