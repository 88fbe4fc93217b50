"""Public schema of a factory dataset: field names, types, units, bounds, categories and filter granularity.

The schema is published with an offer, so everything derived from it (job validation, the layout of the
statistics vector, clipping bounds, the granularity at which filters may cut the data) is known to every
party without looking at any data. Fields flagged ``personal`` (operator names, mobile numbers, ...)
describe personal information: they stay in the schema so the factory's files can be described completely,
but no job may ever read them.
"""

from __future__ import annotations

import math
from enum import StrEnum
from typing import Literal, Self

from pydantic import BaseModel, ConfigDict, Field, model_validator

from contracts.exceptions import UnknownFieldError

IDENTIFIER_PATTERN = r"^[a-z][a-z0-9_]{0,62}$"
MAX_CATEGORIES = 1000
MAX_FIELDS = 500
# ``value / step`` counts as the integer k when |value / step - k| <= GRID_TOLERANCE * max(1, |k|): binary
# floating point cannot hold most decimal grids exactly (0.3 / 0.1 == 2.9999999999999996).
GRID_TOLERANCE = 1e-9

TimeResolution = Literal["day", "hour"]
DEFAULT_FILTER_RESOLUTION: TimeResolution = "day"


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
    """One column. Numeric fields declare finite bounds; values are clipped to them before any statistic.

    Filters on numbers and timestamps cut the data only at a granularity the provider chooses here:
    ``filter_step`` for number and integer fields (the grid ``k * step``, anchored at 0) and
    ``filter_resolution`` (whole days or hours) for timestamps. Left unset, numbers get a step derived from
    the bounds and timestamps whole days (``effective_filter_step``, ``effective_filter_resolution``).
    The schema is published in the offer, so the granularity is a term that every party sees and signs.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str = Field(pattern=IDENTIFIER_PATTERN)
    type: FieldType
    unit: str = ""
    description: str = ""
    min: float | None = None
    max: float | None = None
    categories: list[str] | None = None
    personal: bool = False
    filter_step: float | None = None
    filter_resolution: TimeResolution | None = None

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
        if self.filter_step is not None:
            self._check_filter_step(self.filter_step)
        if self.filter_resolution is not None and self.type is not FieldType.TIMESTAMP:
            raise ValueError(f"field {self.name!r}: only timestamp fields take filter_resolution")
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

    def _check_filter_step(self, step: float) -> None:
        if not self.type.is_numeric:
            raise ValueError(f"field {self.name!r}: only number and integer fields take filter_step")
        if not (math.isfinite(step) and step > 0):
            raise ValueError(f"field {self.name!r}: filter_step must be finite and above 0")
        if self.type is FieldType.INTEGER and not step.is_integer():
            raise ValueError(
                f"field {self.name!r}: the filter_step of an integer field must be a whole number"
            )

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
    def effective_filter_step(self) -> float:
        """Grid step of filters on a numeric field: ``filter_step``, else derived from the bounds.

        The default is the largest 1-2-5 x 10^k not above a tenth of the range (bounds [200, 800] give 50,
        [0, 5] give 0.5), and never below 1 for integer fields.
        """
        if self.filter_step is not None:
            return self.filter_step
        span = self.upper / 10 - self.lower / 10  # divided first: the difference may overflow
        step = nice_step(span) if span > 0 else self.upper - self.lower  # span 0: subnormal bounds
        return max(step, 1.0) if self.type is FieldType.INTEGER else step

    @property
    def effective_filter_resolution(self) -> TimeResolution:
        """Granularity of filters on a timestamp field: ``filter_resolution``, else whole days."""
        if self.type is not FieldType.TIMESTAMP:
            raise TypeError(f"field {self.name!r} is not a timestamp")
        return self.filter_resolution or DEFAULT_FILTER_RESOLUTION

    @property
    def filter_granularity(self) -> float | TimeResolution | None:
        """The step or resolution filters on this field must keep; None where filters test categories."""
        if self.type.is_numeric:
            return self.effective_filter_step
        if self.type is FieldType.TIMESTAMP:
            return self.effective_filter_resolution
        return None

    def grid_point(self, value: float) -> float | None:
        """The point ``k * step`` of this numeric field's filter grid that ``value`` names, else None.

        ``value`` names ``k * step`` when ``|value / step - k| <= GRID_TOLERANCE * max(1, |k|)``.
        """
        step = self.effective_filter_step
        quotient = value / step
        if not math.isfinite(quotient):
            return None
        k = float(round(quotient))
        return k * step if abs(quotient - k) <= GRID_TOLERANCE * max(1.0, abs(k)) else None

    @property
    def centre(self) -> float:
        """Midpoint of the bounds; statistics are taken of ``x - centre`` to keep magnitudes small."""
        return (self.lower + self.upper) / 2.0

    @property
    def half_width(self) -> float:
        """Largest possible ``|x - centre|`` after clipping."""
        return (self.upper - self.lower) / 2.0


def nice_step(span: float) -> float:
    """The largest 1-2-5 x 10^k not above ``span`` (> 0), allowing ``GRID_TOLERANCE`` for rounding."""
    exponent = math.floor(math.log10(span))
    # log10 can miss a power of ten by one unit in the last place, so look one decade either side too.
    candidates = [_decimal(m, e) for e in range(exponent - 1, exponent + 2) for m in (1, 2, 5)]
    return max(c for c in candidates if c <= span * (1 + GRID_TOLERANCE))


def _decimal(mantissa: int, exponent: int) -> float:
    # Integer arithmetic, then one correctly rounded division: 0.1 comes out as the double nearest to 1/10.
    scale: int = 10 ** abs(exponent)
    if exponent < 0:
        return mantissa / scale
    try:
        return float(mantissa * scale)
    except OverflowError:  # beyond the largest double: never a candidate
        return math.inf


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
