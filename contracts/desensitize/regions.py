"""Administrative division codes (行政区划代码) and the years each was in use, from python-stdnum's table.

A code counts as valid in a year exactly when ``stdnum.cn.ric`` would accept it as a birth place for that
year, so surrogate resident ids built from ``codes_in_use(year)`` pass ``stdnum.cn.ric.validate``.
"""

from __future__ import annotations

from collections.abc import Mapping
from functools import cache

from stdnum import numdb

_ALWAYS = (None, None)
Span = tuple[int | None, int | None]


@cache
def _spans() -> Mapping[int, tuple[Span, ...]]:
    """Each 6-digit code with the spans of years its names were in use (open ends as None)."""
    table: dict[int, tuple[Span, ...]] = {}
    for _, low, high, _, counties in numdb.get("cn/loc").prefixes:
        for province in range(int(low), int(high) + 1):
            for _, c_low, c_high, props, _ in counties:
                if "county" not in props:
                    continue
                spans = tuple(_span(name) for name in props["county"].split(","))
                for county in range(int(c_low), int(c_high) + 1):
                    table[province * 10_000 + county] = spans
    return table


def _span(name: str) -> Span:
    if not name.startswith("["):
        return _ALWAYS
    start, end = name[1:].split("]", 1)[0].split("-")
    return (int(start) if start else None, int(end) if end else None)


@cache
def codes_in_use(year: int) -> tuple[int, ...]:
    """Sorted codes that were in use in ``year``."""
    return tuple(sorted(code for code, spans in _spans().items() if any(_covers(s, year) for s in spans)))


@cache
def codes_ever() -> tuple[int, ...]:
    """Sorted codes that were ever in use."""
    return tuple(sorted(_spans()))


def _covers(span: Span, year: int) -> bool:
    start, end = span
    return (start is None or year >= start) and (end is None or year <= end)
