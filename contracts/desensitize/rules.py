"""Desensitization rules, one per released field, as declared in an offer and copied into a contract.

A ``RuleSet`` maps field names to rules. It is fail-closed: a field without a rule is dropped from every
record-level release, so passing a field through unchanged takes an explicit ``keep``. Rules are plain
canonical JSON (``{"op": "mask", "keep_last": 4}``), and ``rules_digest`` names a rule set in receipts.
"""

from __future__ import annotations

import hashlib
from itertools import pairwise
from typing import Annotated, Final, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, model_validator

from contracts.canonical import PRINTABLE_PATTERN, SafeFloat, canonical
from contracts.desensitize.hierarchy import ValueHierarchy, Width
from contracts.schema import IDENTIFIER_PATTERN

DOMAIN_PATTERN: Final = r"^[a-z0-9][a-z0-9_.-]{0,63}$"
FieldName = Annotated[str, StringConstraints(pattern=IDENTIFIER_PATTERN)]
# Values mapped under the same domain of one contract map alike, whatever field they are in: a join key.
Domain = Annotated[str, StringConstraints(pattern=DOMAIN_PATTERN)]
_TOKEN_BITS: Final = {"hex": 4, "base32": 5}


class _Rule(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class KeepRule(_Rule):
    """Release the value as it is."""

    op: Literal["keep"] = "keep"


class MaskRule(_Rule):
    """Keep the first and last characters and replace the rest by ``mask_char``, keeping the length.

    A value no longer than ``keep_first + keep_last`` is masked whole.
    """

    op: Literal["mask"] = "mask"
    keep_first: int = Field(default=0, ge=0, le=64)
    keep_last: int = Field(default=0, ge=0, le=64)
    mask_char: str = Field(default="*", min_length=1, max_length=1, pattern=PRINTABLE_PATTERN)


class PseudonymRule(_Rule):
    """A token cut from HMAC-SHA-256 of the value's text under the contract's key for ``domain``."""

    op: Literal["pseudonym"] = "pseudonym"
    domain: Domain = "default"
    encoding: Literal["hex", "base32"] = "hex"
    length: int = Field(default=20, ge=16, le=64)  # characters; 16 hex characters are 64 bits

    @model_validator(mode="after")
    def _fits(self) -> PseudonymRule:
        if self.length * _TOKEN_BITS[self.encoding] > 256:
            raise ValueError(
                f"a {self.encoding} token has at most {256 // _TOKEN_BITS[self.encoding]} characters"
            )
        return self


FF1Format = Literal["numeric", "alphanumeric", "resident_id", "uscc"]


class FF1Rule(_Rule):
    """Format-preserving encryption: a keyed permutation without fixed points.

    So a surrogate always differs from its value, and distinct values stay distinct.

    ``numeric`` encrypts the digits (at least 6) and keeps every other character in place; ``alphanumeric``
    does the same over 0-9A-Za-z (at least 4). ``resident_id`` and ``uscc`` give surrogates whose check
    characters are valid; ``birth_date`` (``keep`` the date, or keep only its ``year``) and ``keep_sex``
    (the parity of the sequence number) apply to resident ids only.
    """

    op: Literal["ff1"] = "ff1"
    format: FF1Format
    domain: Domain = "default"
    birth_date: Literal["keep", "year"] = "year"
    keep_sex: bool = False

    @model_validator(mode="after")
    def _options(self) -> FF1Rule:
        if self.format != "resident_id" and (self.birth_date != "year" or self.keep_sex):
            raise ValueError("birth_date and keep_sex apply to the resident_id format only")
        return self


class GeneralizeRule(_Rule):
    """Replace the value by its ancestor at ``level`` of the hierarchy (0 keeps it)."""

    op: Literal["generalize"] = "generalize"
    hierarchy: ValueHierarchy
    level: int = Field(ge=0)

    @model_validator(mode="after")
    def _level(self) -> GeneralizeRule:
        if self.level > self.hierarchy.height:
            raise ValueError(f"the hierarchy has levels 0 to {self.hierarchy.height}")
        return self


class BucketRule(_Rule):
    """Replace a number by its interval label such as ``[10, 20)``.

    Buckets are ``width`` wide from ``origin``, or lie between explicit ``edges``, with open-ended buckets
    below the first edge and from the last one.
    """

    op: Literal["bucket"] = "bucket"
    width: Width | None = None
    origin: SafeFloat = 0.0
    edges: tuple[SafeFloat, ...] | None = Field(default=None, min_length=1, max_length=1000)

    @model_validator(mode="after")
    def _one_way(self) -> BucketRule:
        if (self.width is None) == (self.edges is None):
            raise ValueError("give either width (and origin) or edges")
        if self.edges is not None and any(a >= b for a, b in pairwise(self.edges)):
            raise ValueError("edges must increase strictly")
        return self


class DateShiftRule(_Rule):
    """Shift a date or timestamp by a keyed pseudo-random, nonzero number of days in ±``max_days``.

    The shift is the same for every date of one entity: the value of ``entity_field`` in the same row,
    as read before any rule.
    """

    op: Literal["date_shift"] = "date_shift"
    entity_field: FieldName
    max_days: int = Field(ge=1, le=3650)


class SuppressRule(_Rule):
    """Replace the value by ``*``, or ``drop`` the field from the release."""

    op: Literal["suppress"] = "suppress"
    mode: Literal["replace", "drop"] = "replace"


Rule = Annotated[
    KeepRule
    | MaskRule
    | PseudonymRule
    | FF1Rule
    | GeneralizeRule
    | BucketRule
    | DateShiftRule
    | SuppressRule,
    Field(discriminator="op"),
]


class RuleSet(_Rule):
    """The rule of every field a record-level release may carry; other fields are dropped."""

    fields: dict[FieldName, Rule] = Field(max_length=1000)


def rules_digest(rules: RuleSet) -> str:
    """Hex SHA-256 of the rule set's canonical JSON."""
    return hashlib.sha256(canonical(rules.model_dump(mode="json"))).hexdigest()
