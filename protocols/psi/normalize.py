"""Named key normalisations that a contract cites, so buyer and factories hash the same canonical key.

Both sides must apply the same normalisation before hashing, and its name is part of the hashed input, so a
canonical form may never change under an existing name: a new behaviour gets a new name (or a new hash
domain). Every set is deduplicated after normalisation: the protocols work on sets of distinct keys (and, for
sums, on one total per distinct key), which fixes how duplicates count.

Registered names:

``credit_code``
    China's unified social credit code (统一社会信用代码, GB 32100-2015): NFKC (full-width ``９１`` becomes
    ``91``), spaces and hyphens removed, upper-cased; its check character (mod 31) is validated with
    python-stdnum's ``stdnum.cn.uscc``, and keys that fail are reported as invalid.
``part_number``
    NFKC, case-folded, with all whitespace and the separators ``- _ . /`` (and Unicode dashes) dropped, so
    ``AB-12.3``, ``ab 123`` and ``ＡＢ＿１２３`` match. This accepts a rare false match (``1-23`` equals
    ``12-3``) because ERP systems of different factories format the same part number differently far more
    often than two distinct parts differ only in where their separators sit.
``text``
    NFKC, case-folded, stripped, internal whitespace runs collapsed to one space (words stay apart).
``exact``
    the key as given, for identifiers that are canonical already.

Each canonical form is applied until it no longer changes the key, so canonical keys are fixed points. A key
that is empty after normalisation or longer than ``MAX_KEY_CHARS`` is invalid under every name.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from stdnum.cn import uscc

from protocols.psi.exceptions import InvalidKeyError, UnknownNormalizationError, ValueBoundError

MAX_KEY_CHARS = 256
_MAX_PASSES = 4

_WHITESPACE = re.compile(r"\s+")
# ASCII hyphen-minus plus the Unicode hyphens and dashes that NFKC leaves alone (U+2010..U+2015, U+2212).
_DASHES = "-\u2010\u2011\u2012\u2013\u2014\u2015\u2212"
_CREDIT_CODE_DROP = re.compile(rf"[\s{re.escape(_DASHES)}]+")
_PART_NUMBER_DROP = re.compile(rf"[\s{re.escape(_DASHES)}_./]+")


@dataclass(frozen=True)
class Normalization:
    """A named canonical form, with an optional validity check applied to the canonical key."""

    name: str
    canonical: Callable[[str], str]
    check: Callable[[str], bool] | None = None


@dataclass(frozen=True)
class KeySet:
    """Distinct canonical keys of one party, in first-seen order, and what was left out on the way."""

    normalization: str
    keys: tuple[str, ...]
    invalid: tuple[str, ...] = ()  # raw inputs that were empty, too long or failed the check
    duplicates: int = 0  # raw inputs whose canonical key was already in ``keys``


@dataclass(frozen=True)
class ValuedKeySet:
    """Distinct canonical keys with the sum of the values of all rows that carried them."""

    normalization: str
    items: tuple[tuple[str, int], ...]
    invalid: tuple[str, ...] = ()
    duplicates: int = 0  # rows merged into an earlier row with the same canonical key

    @property
    def total(self) -> int:
        return sum(value for _, value in self.items)


def _nfkc(raw: str) -> str:
    return unicodedata.normalize("NFKC", raw)


def _credit_code(raw: str) -> str:
    return _CREDIT_CODE_DROP.sub("", _nfkc(raw)).upper()


def _credit_code_valid(code: str) -> bool:
    return bool(uscc.is_valid(code))


def _part_number(raw: str) -> str:
    return _PART_NUMBER_DROP.sub("", _nfkc(_nfkc(raw).casefold()))


def _text(raw: str) -> str:
    # NFKC again after case-folding, as Unicode's NFKC_Casefold does, so that the result is a fixed point.
    return _WHITESPACE.sub(" ", _nfkc(_nfkc(raw).casefold())).strip()


def _exact(raw: str) -> str:
    return raw


_REGISTRY: dict[str, Normalization] = {
    n.name: n
    for n in (
        Normalization("credit_code", _credit_code, _credit_code_valid),
        Normalization("part_number", _part_number),
        Normalization("text", _text),
        Normalization("exact", _exact),
    )
}


def names() -> tuple[str, ...]:
    return tuple(sorted(_REGISTRY))


def get_normalization(name: str) -> Normalization:
    """The registered normalisation ``name``; UnknownNormalizationError for any other name."""
    try:
        return _REGISTRY[name]
    except KeyError:
        raise UnknownNormalizationError(name, names()) from None


def canonical_key(name: str, raw: str, *, validate: bool = True) -> str | None:
    """The canonical form of ``raw`` under ``name``, or None if it is invalid."""
    normalization = get_normalization(name)
    key = normalization.canonical(raw)
    # Dropping characters can bring a combining mark next to a new base letter (``R¸`` → ``r`` + U+0327),
    # which NFKC then composes; repeating until nothing changes makes every canonical key a fixed point.
    for _ in range(_MAX_PASSES):
        again = normalization.canonical(key)
        if again == key:
            break
        key = again
    else:
        return None
    if not key or len(key) > MAX_KEY_CHARS:
        return None
    if validate and normalization.check is not None and not normalization.check(key):
        return None
    return key


def normalize_keys(
    name: str, raw_keys: Iterable[str], *, validate: bool = True, strict: bool = False
) -> KeySet:
    """Normalise and deduplicate ``raw_keys``; invalid keys are left out and reported, or raise if ``strict``.

    ``validate=False`` skips the check of the normalisation (e.g. the credit-code check digit) but keeps the
    canonical form, so both sides still match whenever the same code is written differently.
    """
    keys: dict[str, None] = {}
    invalid: list[str] = []
    duplicates = 0
    for raw in raw_keys:
        key = canonical_key(name, raw, validate=validate)
        if key is None:
            invalid.append(raw)
        elif key in keys:
            duplicates += 1
        else:
            keys[key] = None
    _refuse_invalid(invalid, strict)
    return KeySet(name, tuple(keys), tuple(invalid), duplicates)


def normalize_rows(
    name: str, rows: Iterable[tuple[str, int]], *, validate: bool = True, strict: bool = False
) -> ValuedKeySet:
    """Normalise the keys of (key, value) rows and add up the values of rows with the same canonical key.

    Values must be non-negative integers (quantised by the caller); anything else raises ValueBoundError.
    """
    totals: dict[str, int] = {}
    invalid: list[str] = []
    duplicates = 0
    for raw, value in rows:
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            raise ValueBoundError(f"values must be non-negative integers, got {value!r}")
        key = canonical_key(name, raw, validate=validate)
        if key is None:
            invalid.append(raw)
        elif key in totals:
            duplicates += 1
            totals[key] += value
        else:
            totals[key] = value
    _refuse_invalid(invalid, strict)
    return ValuedKeySet(name, tuple(totals.items()), tuple(invalid), duplicates)


def _refuse_invalid(invalid: list[str], strict: bool) -> None:
    if strict and invalid:
        raise InvalidKeyError(f"{len(invalid)} key(s) are invalid under the normalisation", tuple(invalid))
