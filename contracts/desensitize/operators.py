"""One function per rule that desensitizes a single value; ``transform_for`` binds a rule to its keys.

A transform takes the value and the row it came from (as read, before any rule) and returns the new value,
or raises ValueError saying why it cannot — never repeating the value. Missing values (None) never reach it.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Callable, Mapping
from datetime import date, datetime, timedelta

from contracts.desensitize.credit_code import CreditCodeSurrogate
from contracts.desensitize.fpe import ALPHANUMERIC, DIGITS, CharacterSurrogate
from contracts.desensitize.hierarchy import SUPPRESSED, decimal_of, edges_label, number_of, width_label
from contracts.desensitize.keys import ContractKey
from contracts.desensitize.resident_id import ResidentIdSurrogate
from contracts.desensitize.rules import (
    BucketRule,
    DateShiftRule,
    FF1Rule,
    GeneralizeRule,
    KeepRule,
    MaskRule,
    PseudonymRule,
    Rule,
    SuppressRule,
)

Transform = Callable[[object, Mapping[str, object]], object]


def transform_for(rule: Rule, key: ContractKey) -> Transform:
    """The transform of ``rule``; keyed rules memoise, since ids and join keys repeat across rows."""
    match rule:
        case KeepRule():
            return lambda value, _row: value
        case SuppressRule():
            return lambda _value, _row: SUPPRESSED
        case MaskRule():
            return lambda value, _row: mask(value, rule)
        case BucketRule():
            return lambda value, _row: bucket(value, rule)
        case GeneralizeRule():
            return lambda value, _row: generalize(value, rule)
        case PseudonymRule():
            secret = key.derive(f"pseudonym/{rule.domain}")
            return _memoised(lambda value: pseudonym(value, rule, secret))
        case FF1Rule():
            return _memoised(_surrogate(rule, key.derive(f"ff1/{rule.domain}")))
        case DateShiftRule():
            secret = key.derive("date_shift")
            return lambda value, row: shift_date(value, shift_days(row.get(rule.entity_field), rule, secret))


def mask(value: object, rule: MaskRule) -> str:
    text = _text(value)
    keep = rule.keep_first + rule.keep_last
    if len(text) <= keep:
        return rule.mask_char * len(text)
    return text[: rule.keep_first] + rule.mask_char * (len(text) - keep) + text[len(text) - rule.keep_last :]


def pseudonym(value: object, rule: PseudonymRule, secret: bytes) -> str:
    digest = hmac.new(secret, _text(value).encode("utf-8"), hashlib.sha256).digest()
    token = digest.hex() if rule.encoding == "hex" else base64.b32encode(digest).decode("ascii")
    return token[: rule.length]


def bucket(value: object, rule: BucketRule) -> str:
    number = number_of(value)
    if rule.edges is not None:
        return edges_label(number, rule.edges)
    assert rule.width is not None  # the rule holds a width or edges
    try:
        return width_label(number, decimal_of(rule.width), decimal_of(rule.origin))
    except ArithmeticError:
        raise ValueError("too many buckets between the origin and the value") from None


def generalize(value: object, rule: GeneralizeRule) -> object:
    try:
        return rule.hierarchy.generalize(value, rule.level)
    except KeyError:
        raise ValueError("the value is not in the hierarchy") from None


def shift_days(entity: object, rule: DateShiftRule, secret: bytes) -> int:
    """A keyed number of days in [-max_days, -1] ∪ [1, max_days], the same for every date of ``entity``."""
    if entity is None:
        raise ValueError(f"the entity field {rule.entity_field!r} is empty or absent")
    digest = hmac.new(secret, _text(entity).encode("utf-8"), hashlib.sha256).digest()
    draw = int.from_bytes(digest, "big") % (2 * rule.max_days)  # bias below 2^-240
    return draw - rule.max_days if draw < rule.max_days else draw - rule.max_days + 1


def shift_date(value: object, days: int) -> object:
    """Shift a date, datetime or ISO-8601 text by ``days``, keeping its type (and date-time separator)."""
    try:
        if isinstance(value, date):  # datetime is a date too
            return value + timedelta(days=days)
        if not isinstance(value, str):
            raise ValueError("not a date")
        if len(value) == 10:
            return (date.fromisoformat(value) + timedelta(days=days)).isoformat()
        return (datetime.fromisoformat(value) + timedelta(days=days)).isoformat(sep=value[10])
    except OverflowError:
        raise ValueError("the shifted date leaves the calendar") from None
    except (ValueError, IndexError):
        raise ValueError("not an ISO-8601 date or timestamp") from None


def _surrogate(rule: FF1Rule, secret: bytes) -> Callable[[object], object]:
    mapper: CharacterSurrogate | ResidentIdSurrogate | CreditCodeSurrogate
    if rule.format == "numeric":
        mapper = CharacterSurrogate(secret, DIGITS, b"numeric")
    elif rule.format == "alphanumeric":
        mapper = CharacterSurrogate(secret, ALPHANUMERIC, b"alphanumeric")
    elif rule.format == "resident_id":
        mapper = ResidentIdSurrogate(secret, birth_date=rule.birth_date, keep_sex=rule.keep_sex)
    else:
        mapper = CreditCodeSurrogate(secret)

    def forward(value: object) -> object:
        if not isinstance(value, str):
            raise ValueError(f"a {rule.format} value must be text")
        return mapper.forward(value)

    return forward


def _memoised(function: Callable[[object], object]) -> Transform:
    memo: dict[tuple[type, object], object] = {}

    def transform(value: object, _row: Mapping[str, object]) -> object:
        if not isinstance(value, str | int):
            return function(value)  # refuses it
        slot = (type(value), value)
        if slot not in memo:
            memo[slot] = function(value)
        return memo[slot]

    return transform


def _text(value: object) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    raise ValueError("not text or an integer")
