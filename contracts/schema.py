"""Public schema of a factory dataset: field names, types, units, bounds and categories.

The schema is published with an offer, so everything derived from it (job validation, the layout of the
statistics vector, clipping bounds) is known to every party without looking at any data. Fields flagged
``personal`` (operator names, mobile numbers, ...) describe personal information: they stay in the schema so
the factory's files can be described completely, but no job may ever read them.
"""

from __future__ import annotations

import math
from enum import StrEnum
from typing import Self

from pydantic import BaseModel, ConfigDict, Field, model_validator

from contracts.exceptions import UnknownFieldError

IDENTIFIER_PATTERN = r"^[a-z][a-z0-9_]{0,62}$"
MAX_CATEGORIES = 1000
MAX_FIELDS = 500


class FieldType(StrEnum):
    NUMBER = "number"
    INTEGER = "integer"
    CATEGORY = "category"
    TEXT = "text"
    TIMESTAMP = "timestamp"

    @property
    def is_numeric(self) -> bool:
        return self in (FieldType.NUMBER, FieldType.INTEGER)


class FieldSpec(BaseModel):
    """One column. Numeric fields declare finite bounds; values are clipped to them before any statistic."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str = Field(pattern=IDENTIFIER_PATTERN)
    type: FieldType
    unit: str = ""
    description: str = ""
    min: float | None = None
    max: float | None = None
    categories: list[str] | None = None
    personal: bool = False

    @model_validator(mode="after")
    def _check_type_parameters(self) -> Self:
        if self.type.is_numeric:
            self._check_bounds()
        elif self.min is not None or self.max is not None:
            raise ValueError(f"field {self.name!r}: only number and integer fields take min/max")
        if self.type is FieldType.CATEGORY:
            self._check_categories()
        elif self.categories is not None:
            raise ValueError(f"field {self.name!r}: only category fields take categories")
        return self

    def _check_bounds(self) -> None:
        if self.min is None or self.max is None:
            raise ValueError(f"field {self.name!r}: {self.type} fields need both min and max")
        if not (math.isfinite(self.min) and math.isfinite(self.max)):
            raise ValueError(f"field {self.name!r}: bounds must be finite")
        if self.min >= self.max:
            raise ValueError(f"field {self.name!r}: min ({self.min}) must be below max ({self.max})")
        if self.type is FieldType.INTEGER and not (self.min.is_integer() and self.max.is_integer()):
            raise ValueError(f"field {self.name!r}: integer bounds must be whole numbers")

    def _check_categories(self) -> None:
        if not self.categories:
            raise ValueError(f"field {self.name!r}: category fields need a non-empty list of categories")
        if len(self.categories) > MAX_CATEGORIES:
            raise ValueError(f"field {self.name!r}: at most {MAX_CATEGORIES} categories")
        if len(set(self.categories)) != len(self.categories):
            raise ValueError(f"field {self.name!r}: categories must be unique")
        if any(c == "" for c in self.categories):
            raise ValueError(f"field {self.name!r}: categories must be non-empty strings")

    @property
    def lower(self) -> float:
        """Lower bound of a numeric field (raises for other types)."""
        if self.min is None:
            raise TypeError(f"field {self.name!r} has no bounds")
        return self.min

    @property
    def upper(self) -> float:
        """Upper bound of a numeric field (raises for other types)."""
        if self.max is None:
            raise TypeError(f"field {self.name!r} has no bounds")
        return self.max

    @property
    def centre(self) -> float:
        """Midpoint of the bounds; statistics are taken of ``x - centre`` to keep magnitudes small."""
        return (self.lower + self.upper) / 2.0

    @property
    def half_width(self) -> float:
        """Largest possible ``|x - centre|`` after clipping."""
        return (self.upper - self.lower) / 2.0


class DatasetSchema(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str = Field(pattern=IDENTIFIER_PATTERN)
    description: str = ""
    fields: list[FieldSpec] = Field(min_length=1, max_length=MAX_FIELDS)

    @model_validator(mode="after")
    def _check_unique_names(self) -> Self:
        seen: set[str] = set()
        for spec in self.fields:
            if spec.name in seen:
                raise ValueError(f"duplicate field name {spec.name!r}")
            seen.add(spec.name)
        return self

    def field(self, name: str) -> FieldSpec:
        """Return the field called ``name`` or raise ``UnknownFieldError``."""
        for spec in self.fields:
            if spec.name == name:
                return spec
        raise UnknownFieldError(
            f"dataset {self.name!r} has no field {name!r}", details={"dataset": self.name, "field": name}
        )

    def has_field(self, name: str) -> bool:
        return any(spec.name == name for spec in self.fields)

    @property
    def field_names(self) -> list[str]:
        return [spec.name for spec in self.fields]
