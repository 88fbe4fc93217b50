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
