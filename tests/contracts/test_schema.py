from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

from contracts.exceptions import UnknownFieldError
from contracts.schema import DatasetSchema, FieldSpec, FieldType


def number(**overrides: Any) -> dict[str, Any]:
    return {"name": "temp", "type": "number", "min": 0, "max": 10} | overrides


def test_valid_schema_round_trips_through_json(schema: DatasetSchema) -> None:
    assert DatasetSchema.model_validate_json(schema.model_dump_json()) == schema


@pytest.mark.parametrize("name", ["Temp", "1temp", "_temp", "te mp", 'a"b', "t" * 64, "", "温度"])
def test_field_names_must_be_safe_identifiers(name: str) -> None:
    with pytest.raises(ValidationError):
        FieldSpec.model_validate(number(name=name))


def test_longest_allowed_name() -> None:
    assert FieldSpec.model_validate(number(name="t" * 63)).name == "t" * 63


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        (number(min=None), "need both min and max"),
        (number(max=None), "need both min and max"),
        (number(min=10), "must be below max"),
        (number(min=11), "must be below max"),
        (number(max=float("inf")), "finite"),
        (number(type="integer", max=9.5), "whole numbers"),
        (number(categories=["a"]), "only category fields"),
        ({"name": "s", "type": "category"}, "non-empty list"),
        ({"name": "s", "type": "category", "categories": []}, "non-empty list"),
        ({"name": "s", "type": "category", "categories": ["a", "a"]}, "unique"),
        ({"name": "s", "type": "category", "categories": ["a", ""]}, "non-empty strings"),
        ({"name": "s", "type": "category", "categories": ["a"], "min": 0}, "only number and integer"),
        ({"name": "t", "type": "text", "max": 3}, "only number and integer"),
    ],
)
def test_field_parameters_are_checked(spec: dict[str, Any], message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        FieldSpec.model_validate(spec)


def test_unknown_keys_and_types_are_refused() -> None:
    with pytest.raises(ValidationError):
        FieldSpec.model_validate(number(sensitive=True))
    with pytest.raises(ValidationError):
        FieldSpec.model_validate(number(type="float"))


def test_duplicate_field_names_are_refused() -> None:
    with pytest.raises(ValidationError, match="duplicate field name 'temp'"):
        DatasetSchema.model_validate({"name": "d", "fields": [number(), number()]})


def test_schema_needs_fields() -> None:
    with pytest.raises(ValidationError):
        DatasetSchema.model_validate({"name": "d", "fields": []})


def test_field_lookup(schema: DatasetSchema) -> None:
    assert schema.field("temp").type is FieldType.NUMBER
    with pytest.raises(UnknownFieldError) as caught:
        schema.field("pressure")
    assert isinstance(caught.value, LookupError)
    assert caught.value.to_dict() == {
        "code": "unknown_field",
        "message": "dataset 'plant' has no field 'pressure'",
        "details": {"dataset": "plant", "field": "pressure"},
    }


def test_centre_and_half_width(schema: DatasetSchema) -> None:
    temp = schema.field("temp")
    assert (temp.centre, temp.half_width) == (1600.0, 200.0)
    with pytest.raises(TypeError):
        _ = schema.field("shift").centre


def test_schema_is_immutable(schema: DatasetSchema) -> None:
    with pytest.raises(ValidationError):
        schema.name = "other"  # type: ignore[misc]


# ---------------------------------------------------------------------------------------- filter granularity


@pytest.mark.parametrize(
    ("field_type", "lo", "hi", "step"),
    [
        ("number", 200, 800, 50.0),  # a tenth of the range is 60
        ("number", 0, 5, 0.5),
        ("number", 1400, 1800, 20.0),
        ("number", 0, 1, 0.1),
        ("number", 0.1, 0.3, 0.02),  # a tenth of the range is 0.019999999999999997 in binary
        ("number", -0.7, 0.7, 0.1),
        ("number", 0, 100, 10.0),
        ("number", -1e308, 1e308, 2e307),  # the range itself overflows
        ("integer", 10, 120, 10.0),
        ("integer", 0, 3, 1.0),  # 0.2 would be a fraction of a whole number
    ],
)
def test_default_filter_step_is_a_round_tenth_of_the_range(
    field_type: str, lo: float, hi: float, step: float
) -> None:
    spec = FieldSpec.model_validate(number(type=field_type, min=lo, max=hi))
    assert spec.filter_step is None
    assert spec.effective_filter_step == step
    assert spec.filter_granularity == step


def test_declared_filter_step_overrides_the_default() -> None:
    spec = FieldSpec.model_validate(number(filter_step=0.25))
    assert spec.effective_filter_step == spec.filter_granularity == 0.25
    assert FieldSpec.model_validate(number(type="integer", filter_step=5)).effective_filter_step == 5.0


def test_timestamps_filter_by_whole_days_unless_the_schema_says_hours() -> None:
    default = FieldSpec.model_validate({"name": "ts", "type": "timestamp"})
    assert default.filter_resolution is None
    assert default.effective_filter_resolution == default.filter_granularity == "day"
    hourly = FieldSpec.model_validate({"name": "ts", "type": "timestamp", "filter_resolution": "hour"})
    assert hourly.effective_filter_resolution == hourly.filter_granularity == "hour"


def test_categories_have_no_filter_granularity(schema: DatasetSchema) -> None:
    assert schema.field("shift").filter_granularity is None
    with pytest.raises(TypeError):
        _ = schema.field("temp").effective_filter_resolution


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        (number(filter_step=0), "finite and above 0"),
        (number(filter_step=-5), "finite and above 0"),
        (number(filter_step=float("inf")), "finite and above 0"),
        (number(filter_step=float("nan")), "finite and above 0"),
        (number(type="integer", filter_step=2.5), "whole number"),
        (number(filter_resolution="day"), "only timestamp fields"),
        ({"name": "ts", "type": "timestamp", "filter_step": 3600}, "only number and integer"),
        ({"name": "s", "type": "category", "categories": ["a"], "filter_step": 1}, "only number and integer"),
        (
            {"name": "s", "type": "category", "categories": ["a"], "filter_resolution": "hour"},
            "only timestamp",
        ),
        ({"name": "t", "type": "text", "filter_resolution": "day"}, "only timestamp"),
    ],
)
def test_filter_granularity_parameters_are_checked(spec: dict[str, Any], message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        FieldSpec.model_validate(spec)


@pytest.mark.parametrize("resolution", ["minute", "second", "week", ""])
def test_only_days_and_hours_are_resolutions(resolution: str) -> None:
    with pytest.raises(ValidationError):
        FieldSpec.model_validate({"name": "ts", "type": "timestamp", "filter_resolution": resolution})


@pytest.mark.parametrize(
    ("step", "value", "point"),
    [
        (20.0, 1600.0, 1600.0),
        (20.0, -40.0, -40.0),
        (20.0, 0.0, 0.0),
        (0.1, 0.3, 0.30000000000000004),  # 3 * 0.1, exactly as SQL computes the start of granule 3
        (0.1, 0.7, 0.7000000000000001),
        (0.5, 2.5, 2.5),
        (20.0, 1555.0, None),
        (20.0, 1600.001, None),
        (0.1, 0.35, None),
        (1e-300, 1e300, None),  # the quotient overflows
    ],
)
def test_grid_points(step: float, value: float, point: float | None) -> None:
    spec = FieldSpec.model_validate(number(min=-100, max=2000, filter_step=step))
    assert spec.grid_point(value) == point


def test_granularity_round_trips_through_json() -> None:
    spec = FieldSpec.model_validate(number(filter_step=0.5))
    assert FieldSpec.model_validate_json(spec.model_dump_json()) == spec
