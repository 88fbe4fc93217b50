from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

from contracts.exceptions import JobSpecError, SpecErrorCode
from contracts.filters import FilterOp
from contracts.jobspec import MAX_VECTOR_LENGTH, JobKind, JobSpec, validate_spec, vector_layout
from contracts.schema import DatasetSchema


def job(kind: str, **kwargs: Any) -> JobSpec:
    return JobSpec.model_validate({"kind": kind, "dataset": "plant", **kwargs})


def flt(field: str, op: str, value: Any) -> dict[str, Any]:
    return {"field": field, "op": op, "value": value}


VALID = [
    job("count"),
    job("count", group_by="shift", filters=[flt("shift", "ne", "C")]),
    job("sum", field="temp", filters=[flt("temp", "between", [1500, 1600])]),
    job("mean", field="cycle", group_by="shift", filters=[flt("cycle", "between", [30, 40])]),
    job(
        "variance", field="energy", filters=[flt("ts", "ge", "2024-03-01T00:00:00"), flt("scrap", "lt", 0.2)]
    ),
    job("histogram", field="temp", bins=[1400, 1600, 1800]),
    job("linear_regression", features=["temp", "scrap"], target="energy"),
    job("count", filters=[flt("ts", "between", ["2024-01-01", "2024-02-01"])]),
    job("count", filters=[flt("temp", "gt", 10000)]),  # beyond the bounds: matches nothing, still valid
    job("count", filters=[flt("ts", "between", ["2024-01-05", "2024-01-05"])]),  # one whole day
    job("count", filters=[flt("scrap", "between", [0.3, 0.7]), flt("temp", "le", -20)]),  # decimal grid
]


@pytest.mark.parametrize("spec", VALID, ids=lambda s: s.kind)
def test_valid_specs_pass(spec: JobSpec, schema: DatasetSchema) -> None:
    validate_spec(spec, schema)


BAD: list[tuple[str, JobSpec, SpecErrorCode]] = [
    ("other dataset", JobSpec(kind=JobKind.COUNT, dataset="mill"), SpecErrorCode.DATASET_MISMATCH),
    ("unknown field", job("mean", field="pressure"), SpecErrorCode.UNKNOWN_FIELD),
    ("unknown group", job("count", group_by="crew"), SpecErrorCode.UNKNOWN_FIELD),
    ("unknown filter field", job("count", filters=[flt("crew", "eq", "x")]), SpecErrorCode.UNKNOWN_FIELD),
    (
        "unknown feature",
        job("linear_regression", features=["x"], target="energy"),
        SpecErrorCode.UNKNOWN_FIELD,
    ),
    ("personal group", job("count", group_by="badge"), SpecErrorCode.PERSONAL_FIELD),
    (
        "personal filter",
        job("count", filters=[flt("operator_name", "eq", "x")]),
        SpecErrorCode.PERSONAL_FIELD,
    ),
    ("personal field", job("mean", field="operator_name"), SpecErrorCode.PERSONAL_FIELD),
    ("mean of category", job("mean", field="shift"), SpecErrorCode.FIELD_TYPE_NOT_ALLOWED),
    ("sum of timestamp", job("sum", field="ts"), SpecErrorCode.FIELD_TYPE_NOT_ALLOWED),
    ("text filter", job("count", filters=[flt("note", "eq", "x")]), SpecErrorCode.FIELD_TYPE_NOT_ALLOWED),
    (
        "category feature",
        job("linear_regression", features=["shift"], target="energy"),
        SpecErrorCode.FIELD_TYPE_NOT_ALLOWED,
    ),
    (
        "histogram of category",
        job("histogram", field="shift", bins=[0, 1]),
        SpecErrorCode.FIELD_TYPE_NOT_ALLOWED,
    ),
    ("mean without field", job("mean"), SpecErrorCode.MISSING_PARAMETER),
    ("histogram without bins", job("histogram", field="temp"), SpecErrorCode.MISSING_PARAMETER),
    (
        "regression without target",
        job("linear_regression", features=["temp"]),
        SpecErrorCode.MISSING_PARAMETER,
    ),
    ("regression without features", job("linear_regression", target="temp"), SpecErrorCode.MISSING_PARAMETER),
    ("count with field", job("count", field="temp"), SpecErrorCode.UNEXPECTED_PARAMETER),
    ("mean with bins", job("mean", field="temp", bins=[1400, 1800]), SpecErrorCode.UNEXPECTED_PARAMETER),
    ("mean with target", job("mean", field="temp", target="energy"), SpecErrorCode.UNEXPECTED_PARAMETER),
    ("group by number", job("count", group_by="temp"), SpecErrorCode.GROUP_BY_NOT_CATEGORY),
    ("group by timestamp", job("count", group_by="ts"), SpecErrorCode.GROUP_BY_NOT_CATEGORY),
    (
        "grouped regression",
        job("linear_regression", features=["temp"], target="energy", group_by="shift"),
        SpecErrorCode.GROUP_BY_NOT_SUPPORTED,
    ),
    ("one edge", job("histogram", field="temp", bins=[1500]), SpecErrorCode.BAD_BINS),
    ("unsorted edges", job("histogram", field="temp", bins=[1500, 1700, 1600]), SpecErrorCode.BAD_BINS),
    ("repeated edge", job("histogram", field="temp", bins=[1500, 1500, 1600]), SpecErrorCode.BAD_BINS),
    ("edge below min", job("histogram", field="temp", bins=[1300, 1500]), SpecErrorCode.BAD_BINS),
    ("edge above max", job("histogram", field="temp", bins=[1500, 1801]), SpecErrorCode.BAD_BINS),
    (
        "duplicate features",
        job("linear_regression", features=["temp", "temp"], target="energy"),
        SpecErrorCode.BAD_FEATURES,
    ),
    (
        "target among features",
        job("linear_regression", features=["temp", "energy"], target="energy"),
        SpecErrorCode.BAD_FEATURES,
    ),
    ("lt on category", job("count", filters=[flt("shift", "lt", "B")]), SpecErrorCode.BAD_FILTER_OP),
    (
        "between on category",
        job("count", filters=[flt("shift", "between", ["A", "B"])]),
        SpecErrorCode.BAD_FILTER_OP,
    ),
    (
        "in on timestamp",
        job("count", filters=[flt("ts", "in", ["2024-01-01"])]),
        SpecErrorCode.FILTER_GRANULARITY,
    ),
    ("undeclared category", job("count", filters=[flt("shift", "eq", "D")]), SpecErrorCode.BAD_FILTER_VALUE),
    ("number for category", job("count", filters=[flt("shift", "eq", 1)]), SpecErrorCode.BAD_FILTER_VALUE),
    ("string for number", job("count", filters=[flt("temp", "gt", "1500")]), SpecErrorCode.BAD_FILTER_VALUE),
    ("list for lt", job("count", filters=[flt("temp", "lt", [1500.0])]), SpecErrorCode.BAD_FILTER_VALUE),
    ("off-grid string", job("count", filters=[flt("temp", "gt", "1555")]), SpecErrorCode.BAD_FILTER_VALUE),
    ("scalar for in", job("count", filters=[flt("shift", "in", "A")]), SpecErrorCode.BAD_FILTER_VALUE),
    ("empty in", job("count", filters=[flt("shift", "in", [])]), SpecErrorCode.BAD_FILTER_VALUE),
    (
        "in with stranger",
        job("count", filters=[flt("shift", "in", ["A", "Z"])]),
        SpecErrorCode.BAD_FILTER_VALUE,
    ),
    (
        "between triple",
        job("count", filters=[flt("temp", "between", [1, 2, 3])]),
        SpecErrorCode.BAD_FILTER_VALUE,
    ),
    (
        "between reversed",
        job("count", filters=[flt("temp", "between", [1600, 1500])]),
        SpecErrorCode.BAD_FILTER_VALUE,
    ),
    ("bad timestamp", job("count", filters=[flt("ts", "ge", "yesterday")]), SpecErrorCode.BAD_FILTER_VALUE),
    (
        "zoned timestamp",
        job("count", filters=[flt("ts", "ge", "2024-01-01T00:00+08:00")]),
        SpecErrorCode.BAD_FILTER_VALUE,
    ),
    (
        "number for timestamp",
        job("count", filters=[flt("ts", "ge", 1700000000)]),
        SpecErrorCode.BAD_FILTER_VALUE,
    ),
    (
        "reversed time range",
        job("count", filters=[flt("ts", "between", ["2024-02-01", "2024-01-01"])]),
        SpecErrorCode.BAD_FILTER_VALUE,
    ),
]


@pytest.mark.parametrize(("spec", "code"), [(s, c) for _, s, c in BAD], ids=[name for name, _, _ in BAD])
def test_bad_specs_are_refused_with_their_code(spec: JobSpec, code: str, schema: DatasetSchema) -> None:
    with pytest.raises(JobSpecError) as caught:
        validate_spec(spec, schema)
    assert caught.value.code == code
    assert caught.value.to_dict()["code"] == caught.value.code
    with pytest.raises(JobSpecError):  # the layout is never built for an invalid spec
        vector_layout(spec, schema)


@pytest.mark.parametrize("value", ["A' OR 1=1 --", "A; DROP TABLE x", 'A" OR "1"="1'])
def test_sql_looking_values_are_just_undeclared_categories(value: str, schema: DatasetSchema) -> None:
    with pytest.raises(JobSpecError) as caught:
        validate_spec(job("count", filters=[flt("shift", "eq", value)]), schema)
    assert caught.value.code == "bad_filter_value"
    assert caught.value.details["value"] == value


def test_error_details_are_machine_readable(schema: DatasetSchema) -> None:
    with pytest.raises(JobSpecError) as caught:
        validate_spec(job("mean", field="shift"), schema)
    assert caught.value.details == {"field": "shift", "type": "category", "kind": "mean"}


def test_vector_length_is_capped(schema: DatasetSchema) -> None:
    many = [f"c{i}" for i in range(1000)]
    wide = schema.model_copy(
        update={
            "fields": [
                *schema.fields,
                schema.field("shift").model_copy(update={"name": "big", "categories": many}),
            ]
        }
    )
    spec = job("histogram", field="scrap", bins=[i / 200 for i in range(201)], group_by="big")
    with pytest.raises(JobSpecError) as caught:
        validate_spec(spec, wide)
    # 201 statistics per group, each bin (and the rows outside) a cell with its own cohort indicator.
    assert caught.value.details == {"length": 1000 * 201 * 2, "limit": MAX_VECTOR_LENGTH}


@pytest.mark.parametrize(
    "payload",
    [
        {"kind": "median", "dataset": "plant"},
        {"kind": "count", "dataset": "plant", "sql": "SELECT 1"},
        {"kind": "count", "dataset": "plant", "filters": [{"field": "shift", "op": "like", "value": "A"}]},
        {"kind": "count", "dataset": "plant", "filters": [{"field": "shift", "op": "eq", "value": True}]},
        {"kind": "count", "dataset": "plant", "filters": [{"field": "x", "op": "in", "value": [1, False]}]},
        {"kind": "count", "dataset": "plant", "min_participants": 2},
        {"kind": "count", "dataset": "plant", "precision_bits": 60},
        {"kind": "count", "dataset": "Plant; DROP"},
    ],
)
def test_malformed_specs_fail_to_parse(payload: dict[str, Any]) -> None:
    with pytest.raises(ValidationError):
        JobSpec.model_validate(payload)


def test_defaults_and_json_round_trip() -> None:
    spec = job("mean", field="temp", filters=[flt("temp", "between", [1500, 1600])])
    assert (spec.min_participants, spec.precision_bits) == (3, 16)
    assert JobSpec.model_validate_json(spec.model_dump_json()) == spec


def test_used_fields_in_first_use_order() -> None:
    spec = job(
        "linear_regression", features=["temp", "scrap"], target="energy", filters=[flt("temp", "lt", 1)]
    )
    assert spec.used_fields() == ["temp", "scrap", "energy"]
    assert job("count", group_by="shift", filters=[flt("ts", "ge", "2024-01-01")]).used_fields() == [
        "shift",
        "ts",
    ]


# --------------------------------------------------------------------------------- filter granularity
# The schema fixture leaves the granularity unset: ts by whole days, temp step 20, scrap 0.1, cycle 10.

GRANULARITY_ATTACKS = [
    # One timestamp pins one row of one factory; so does its complement, subtracted from the total.
    ("one-instant range", flt("ts", "between", ["2024-03-01T06:17:42", "2024-03-01T06:17:42"])),
    ("timestamp ne", flt("ts", "ne", "2024-03-01T06:17:42")),
    ("timestamp ne at midnight", flt("ts", "ne", "2024-03-01")),
    ("timestamp eq", flt("ts", "eq", "2024-03-01")),
    ("number eq", flt("temp", "eq", 1347.6)),
    ("number eq on the grid", flt("temp", "eq", 1600)),
    ("number ne", flt("temp", "ne", 1600)),
    ("number in", flt("temp", "in", [1600, 1620])),
    ("integer eq", flt("cycle", "eq", 40)),
    ("integer in", flt("cycle", "in", [40, 41, 42])),
    ("time of day", flt("ts", "ge", "2024-03-01T06:00:00")),
    ("one second past midnight", flt("ts", "lt", "2024-03-01T00:00:01")),
    ("one microsecond past midnight", flt("ts", "le", "2024-03-01T00:00:00.000001")),
    ("range ending at a time of day", flt("ts", "between", ["2024-01-05", "2024-01-15T12:00:00"])),
    ("off-grid threshold", flt("temp", "gt", 1347.6)),
    ("off-grid range", flt("temp", "between", [1550, 1650])),
    ("off-grid beyond the bounds", flt("temp", "gt", 9999)),
    ("finer than the step", flt("scrap", "lt", 0.15)),
    ("off-grid integer", flt("cycle", "ge", 45)),
]


@pytest.mark.parametrize("item", [f for _, f in GRANULARITY_ATTACKS], ids=[n for n, _ in GRANULARITY_ATTACKS])
def test_filters_finer_than_the_offer_are_refused(item: dict[str, Any], schema: DatasetSchema) -> None:
    with pytest.raises(JobSpecError) as caught:
        validate_spec(job("sum", field="energy", filters=[item]), schema)
    assert caught.value.spec_code is SpecErrorCode.FILTER_GRANULARITY
    assert caught.value.code == "filter_granularity"
    assert caught.value.details["field"] == item["field"]
    assert repr(item["field"]) in caught.value.message


@pytest.mark.parametrize("field_name", ["ts", "temp", "cycle"])
def test_numbers_and_timestamps_take_ranges_only(field_name: str, schema: DatasetSchema) -> None:
    value = "2024-03-01" if field_name == "ts" else 40
    allowed = set()
    for op in FilterOp:
        given = [value, value] if op in (FilterOp.BETWEEN, FilterOp.IN) else value
        try:
            validate_spec(job("count", filters=[flt(field_name, op.value, given)]), schema)
        except JobSpecError as refused:
            assert refused.code == "filter_granularity"
        else:
            allowed.add(op.value)
    assert allowed == {"lt", "le", "gt", "ge", "between"}


def test_the_message_names_the_allowed_granularity(schema: DatasetSchema) -> None:
    with pytest.raises(JobSpecError) as by_day:
        validate_spec(job("count", filters=[flt("ts", "eq", "2024-03-01")]), schema)
    assert "'ts'" in by_day.value.message and "whole days" in by_day.value.message
    assert by_day.value.details == {"field": "ts", "op": "eq", "value": "2024-03-01", "granularity": "day"}
    with pytest.raises(JobSpecError) as by_step:
        validate_spec(job("count", filters=[flt("scrap", "le", 0.25)]), schema)
    assert "'scrap'" in by_step.value.message and "step 0.1" in by_step.value.message
    assert by_step.value.details["granularity"] == 0.1


def with_granularity(schema: DatasetSchema, name: str, **granularity: Any) -> DatasetSchema:
    fields = [f | granularity if f["name"] == name else f for f in schema.model_dump()["fields"]]
    return DatasetSchema.model_validate(schema.model_dump() | {"fields": fields})


def test_an_hourly_offer_allows_whole_hours_only(schema: DatasetSchema) -> None:
    hourly = with_granularity(schema, "ts", filter_resolution="hour")
    validate_spec(
        job("count", filters=[flt("ts", "between", ["2024-03-01T06:00", "2024-03-01T06:00"])]), hourly
    )
    for value in ["2024-03-01T06:30:00", "2024-03-01T06:00:01"]:
        with pytest.raises(JobSpecError) as caught:
            validate_spec(job("count", filters=[flt("ts", "ge", value)]), hourly)
        assert caught.value.code == "filter_granularity" and "whole hours" in caught.value.message
    with pytest.raises(JobSpecError) as daily:
        validate_spec(job("count", filters=[flt("ts", "ge", "2024-03-01T06:00")]), schema)
    assert daily.value.code == "filter_granularity"


def test_a_declared_step_replaces_the_default(schema: DatasetSchema) -> None:
    fine = with_granularity(schema, "temp", filter_step=5)
    validate_spec(job("count", filters=[flt("temp", "between", [1555, 1605])]), fine)
    coarse = with_granularity(schema, "temp", filter_step=100)
    with pytest.raises(JobSpecError) as caught:
        validate_spec(job("count", filters=[flt("temp", "lt", 1620)]), coarse)
    assert caught.value.details["granularity"] == 100.0


def test_category_filters_keep_equality(schema: DatasetSchema) -> None:
    for op, value in [("eq", "A"), ("ne", "B"), ("in", ["A", "C"])]:
        validate_spec(job("count", filters=[flt("shift", op, value)]), schema)


# ---------------------------------------------------------------------------------------------- layout


def test_layout_of_each_kind(schema: DatasetSchema) -> None:
    names = {
        "count": vector_layout(job("count"), schema).names,
        "sum": vector_layout(job("sum", field="temp"), schema).names,
        "variance": vector_layout(job("variance", field="temp"), schema).names,
        "histogram": vector_layout(job("histogram", field="temp", bins=[1400, 1500, 1800]), schema).names,
    }
    assert names == {
        "count": ("n", "cohort(count)"),
        "sum": ("n", "sum((temp-c))", "cohort(sum)"),
        "variance": ("n", "sum((temp-c))", "sum((temp-c)^2)", "cohort(variance)"),
        "histogram": (
            "outside",
            "bin(temp in [1400,1500))",
            "bin(temp in [1500,1800])",
            "cohort(outside)",
            "cohort(bin(temp in [1400,1500)))",
            "cohort(bin(temp in [1500,1800]))",
        ),
    }
    assert vector_layout(job("mean", field="temp"), schema).names == ("n", "sum((temp-c))", "cohort(mean)")


def test_grouped_layout_repeats_terms_in_category_order(schema: DatasetSchema) -> None:
    layout = vector_layout(job("mean", field="temp", group_by="shift"), schema)
    assert layout.names == (
        "n[shift=A]",
        "sum((temp-c))[shift=A]",
        "cohort(mean)[shift=A]",
        "n[shift=B]",
        "sum((temp-c))[shift=B]",
        "cohort(mean)[shift=B]",
        "n[shift=C]",
        "sum((temp-c))[shift=C]",
        "cohort(mean)[shift=C]",
    )
    assert layout.length == len(layout) == 9
    assert layout.group_slice(1) == slice(3, 5)
    assert layout.indicator_slice(1) == slice(5, 6)
    assert layout.index("n[shift=C]") == 6
    count = vector_layout(job("count", group_by="shift"), schema)
    assert count.names[::2] == ("n[shift=A]", "n[shift=B]", "n[shift=C]")


def test_regression_layout(schema: DatasetSchema) -> None:
    layout = vector_layout(
        job("linear_regression", features=["temp", "scrap", "cycle"], target="energy"), schema
    )
    p = 3
    assert layout.length == 1 + p + p * (p + 1) // 2 + p + 2 + 1  # one cell: the whole fit
    assert layout.names[:4] == ("n", "sum((temp-c))", "sum((scrap-c))", "sum((cycle-c))")
    assert layout.names[4:7] == ("sum((temp-c)^2)", "sum((temp-c)*(scrap-c))", "sum((temp-c)*(cycle-c))")
    assert layout.names[-6:] == (
        "sum((temp-c)*(energy-c))",
        "sum((scrap-c)*(energy-c))",
        "sum((cycle-c)*(energy-c))",
        "sum((energy-c))",
        "sum((energy-c)^2)",
        "cohort(linear_regression)",
    )
    assert layout.centres == {"temp": 1600.0, "scrap": 0.5, "cycle": 65.0, "energy": 500.0}


def test_row_bounds_follow_the_declared_bounds(schema: DatasetSchema) -> None:
    layout = vector_layout(job("variance", field="temp", group_by="shift"), schema)
    assert layout.row_bounds == (1.0, 200.0, 40000.0, 1.0) * 3  # an indicator is 0 or 1
    regression = vector_layout(job("linear_regression", features=["scrap"], target="temp"), schema)
    assert regression.row_bounds == (1.0, 0.5, 0.25, 100.0, 200.0, 40000.0, 1.0)


def test_layout_depends_only_on_spec_and_schema(schema: DatasetSchema) -> None:
    spec = job("histogram", field="temp", bins=[1400, 1600, 1800], group_by="shift")
    assert vector_layout(spec, schema) == vector_layout(spec.model_copy(), schema.model_copy())
