"""The one canonical encoding of everything signed, hashed or logged: RFC 8785 JSON in JSON's safe domain.

``canonical`` takes only I-JSON values (RFC 7493): objects with string keys, arrays, strings of Unicode
scalar values, booleans, null, and numbers within ±(2^53 − 1) — RFC 8785 prints a float at or past 2^53
such as 1e16 as the integer 10000000000000000, which no canonical reader takes back. It proves that what it
writes reads back to the same bytes; ``parse_canonical`` is its strict inverse. The annotated types keep
models inside that domain at the edge, and ``bounded`` squeezes any value into it for error reports.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from typing import Annotated, Any, Final

import rfc8785
from pydantic import Field, StringConstraints

from contracts.exceptions import ContractsError

MAX_SAFE_INTEGER: Final = 2**53 - 1
MAX_DEPTH: Final = 32
# Ids of contracts, offers, jobs and participants: what an audit subject or a signature's party may be.
ID_PATTERN: Final = r"^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$"
# Free text at the edge: no C0 or C1 control character and no line or paragraph separator; pydantic's
# constrained strings also refuse lone surrogates, which no UTF-8 encoder can write.
PRINTABLE_PATTERN: Final = r"^[^\x00-\x1f\x7f-\x9f\u2028\u2029]*$"

SafeInt = Annotated[int, Field(ge=-MAX_SAFE_INTEGER, le=MAX_SAFE_INTEGER)]
SafeFloat = Annotated[float, Field(allow_inf_nan=False, ge=-MAX_SAFE_INTEGER, le=MAX_SAFE_INTEGER)]
SafeId = Annotated[str, StringConstraints(pattern=ID_PATTERN, max_length=128)]


class CanonicalError(ContractsError, rfc8785.CanonicalizationError):
    """A value outside canonical JSON, or bytes that are not the canonical form of what they hold."""

    default_code = "not_canonical"

    def __init__(self, message: str, path: tuple[str | int, ...] = ()) -> None:
        where = "".join(f"[{p!r}]" for p in path) or "the document"
        super().__init__(f"{where}: {message}", details={"path": [bounded(p) for p in path]})


def canonical(document: object) -> bytes:
    """RFC 8785 bytes of ``document``, which must lie in the safe domain and read back to the same bytes."""
    check_domain(document)
    data = _dumps(document)
    if _dumps(_loads(data)) != data:
        raise CanonicalError("does not read back to the same bytes")
    return data


def parse_canonical(data: bytes) -> Any:
    """Decode bytes, insisting they are exactly the canonical form of a value in the safe domain."""
    value = _loads(data)
    check_domain(value)
    if _dumps(value) != data:
        raise CanonicalError("the bytes are not in canonical form")
    return value


def check_domain(value: object, path: tuple[str | int, ...] = ()) -> None:
    """Raise ``CanonicalError`` naming the first place where ``value`` leaves canonical JSON."""
    if len(path) > MAX_DEPTH:
        raise CanonicalError(f"nested deeper than {MAX_DEPTH} levels", path[:MAX_DEPTH])
    if value is None or isinstance(value, bool):
        return
    if isinstance(value, int):
        if abs(value) > MAX_SAFE_INTEGER:
            raise CanonicalError("an integer beyond ±(2^53 - 1)", path)
    elif isinstance(value, float):
        if not math.isfinite(value) or abs(value) > MAX_SAFE_INTEGER:
            raise CanonicalError(f"{value!r} is not a finite number within ±(2^53 - 1)", path)
    elif isinstance(value, str):
        _check_text(value, path)
    elif isinstance(value, Mapping):
        for key, item in value.items():
            if not isinstance(key, str):
                raise CanonicalError("object keys must be strings", path)
            _check_text(key, path)
            check_domain(item, (*path, key))
    elif isinstance(value, (list, tuple)):
        for index, item in enumerate(value):
            check_domain(item, (*path, index))
    else:
        raise CanonicalError(f"a {type(value).__name__} is not a JSON value", path)


def _check_text(text: str, path: tuple[str | int, ...]) -> None:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise CanonicalError("a string holds a lone surrogate", path) from exc


def _dumps(value: object) -> bytes:
    try:
        return bytes(rfc8785.dumps(value))  # type: ignore[arg-type]
    except rfc8785.CanonicalizationError as exc:
        raise CanonicalError(str(exc)) from exc


def _loads(data: bytes) -> Any:
    try:
        return json.loads(data.decode("utf-8"), object_pairs_hook=_no_duplicates, parse_constant=_no_constant)
    except (ValueError, RecursionError) as exc:  # JSONDecodeError and UnicodeDecodeError are ValueErrors
        raise CanonicalError(f"not JSON: {exc}") from exc


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    result = dict(pairs)
    if len(result) != len(pairs):
        raise ValueError("duplicate object key")
    return result


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON number")


# ---------------------------------------------------------------------------------- bounded summaries


def bounded(value: object, *, text: int = 300, items: int = 20, depth: int = 4) -> Any:
    """A copy of ``value`` squeezed into the safe domain and bounded in size, for error bodies and refusals.

    Strings are cut to ``text`` characters (lone surrogates escaped), containers to ``items`` entries and
    ``depth`` levels, and numbers outside the domain become their ``repr``; anything else becomes text.
    """
    if value is None or isinstance(value, bool):
        return value
    if isinstance(value, int | float) and _in_domain(value):
        return value
    if isinstance(value, Mapping) and depth > 0:
        pairs = list(value.items())[:items]
        return {
            bounded_text(str(k), 64): bounded(v, text=text, items=items, depth=depth - 1) for k, v in pairs
        }
    if isinstance(value, (list, tuple, set, frozenset)) and depth > 0:
        return [bounded(v, text=text, items=items, depth=depth - 1) for v in list(value)[:items]]
    return bounded_text(value if isinstance(value, str) else repr(value), text)


def bounded_text(text: str, limit: int) -> str:
    """``text`` cut to ``limit`` characters, with lone surrogates written as backslash escapes."""
    return text[:limit].encode("utf-8", "backslashreplace").decode("utf-8")


def _in_domain(number: int | float) -> bool:
    return math.isfinite(number) and abs(number) <= MAX_SAFE_INTEGER
