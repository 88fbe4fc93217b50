"""Recovering a Shamir-shared secret when some responders may send wrong shares.

A caller that can recognise the right secret (a seed matching its commitment, a key matching its public
key) passes ``check``. The first t shares are tried first, the common case: they stand when their secret
passes ``check`` and every other share lies on their polynomial. Otherwise a Berlekamp-Welch
decoder corrects up to (m - t) / 2 wrong shares among m; beyond that, t-subsets are searched, all of them
when there are at most MAX_SUBSETS, else MAX_SUBSETS drawn in a fixed pseudo-random order. Every responder
whose share is off the recovered polynomial is named. Without ``check`` the first t shares are trusted.
A secret that fails ``check`` is never returned. Within the decoder's reach an honest responder is never
named; beyond it, liars who collude so that their errors cancel at zero could make the search settle on
their polynomial and name others (the secret, checked, is still right).
"""

import random
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from itertools import chain, combinations
from math import comb

from protocols.exceptions import InvalidMessageError, ThresholdError
from protocols.secagg.shamir import PRIME, SECRET_BYTES, interpolate, share_value

Check = Callable[[bytes], bool]
Point = tuple[int, int]

# Bounds the search when more responders lie than the decoder corrects: every t-subset of up to 12
# responders (C(12, 6) = 924) is tried, and a larger run spends at most ~1 s before it gives up.
MAX_SUBSETS = 2000


@dataclass(frozen=True)
class Recovery:
    secret: bytes
    liars: tuple[str, ...]  # responders whose share is not on the polynomial of the recovered secret


def recover(
    shares: Mapping[str, bytes], xs: Mapping[str, int], threshold: int, check: Check | None
) -> Recovery:
    """Recover the secret from ``shares`` (by responder, in a deterministic order).

    ThresholdError if fewer than ``threshold`` shares are given; InvalidMessageError if no t of them give a
    secret that passes ``check`` (the dealer dealt bad shares, or too few responders are honest).
    """
    ids = list(shares)
    if len(ids) < threshold:
        raise ThresholdError(f"{len(ids)} shares available, {threshold} needed")
    points = {u: (xs[u], share_value(shares[u])) for u in ids}
    secret = _secret_of(points, ids[:threshold])
    if check is None:
        if secret is None:
            raise InvalidMessageError("shares do not interpolate to a 32-byte secret (corrupted shares)")
        return Recovery(secret, ())
    first_passes = secret is not None and check(secret)
    if first_passes and _all_on_curve(points, ids, threshold):
        return Recovery(secret, ())  # type: ignore[arg-type]
    found = _find_consistent(points, ids, threshold, check)
    if found is None and first_passes:  # the search skips the first t, which pass
        found = ids[:threshold], secret  # type: ignore[assignment]
    if found is None:
        raise InvalidMessageError(f"no {threshold} of {len(ids)} shares give a secret that passes the check")
    good, secret = found
    on_curve = {points[u][0]: points[u][1] for u in good}
    liars = tuple(u for u in ids if u not in good and interpolate(on_curve, points[u][0]) != points[u][1])
    return Recovery(secret, liars)


def _all_on_curve(points: Mapping[str, Point], ids: list[str], t: int) -> bool:
    """Whether every share lies on the polynomial through the first t.

    A right secret from the first t does not clear them: two wrong shares can cancel at 0 (with x = 1..5,
    errors e at x = 1 and x = 4 weigh 5e and -5e), so the others are checked against that polynomial too.
    """
    curve = {points[u][0]: points[u][1] for u in ids[:t]}
    return all(interpolate(curve, points[u][0]) == points[u][1] for u in ids[t:])


def _find_consistent(
    points: Mapping[str, Point], ids: list[str], t: int, check: Check
) -> tuple[list[str], bytes] | None:
    """T responders whose shares give a secret that passes ``check``, and that secret."""
    decoded = _berlekamp_welch([points[u] for u in ids], t)
    candidates: Iterator[list[str]] = iter(())
    if decoded is not None:
        agreeing = [u for u in ids if _evaluate(decoded, points[u][0]) == points[u][1]]
        if len(agreeing) >= t:
            candidates = iter([agreeing[:t]])
    for subset in chain(candidates, _subsets(ids, t)):
        secret = _secret_of(points, subset)
        if secret is not None and check(secret):
            return subset, secret
    return None


def _subsets(ids: list[str], t: int) -> Iterator[list[str]]:
    """T-subsets other than the first t to try, at most MAX_SUBSETS of them."""
    if comb(len(ids), t) > MAX_SUBSETS:
        # A fixed seed keeps runs reproducible; liars that defeat it can only stop the run, which they
        # could do anyway by not answering.
        rng = random.Random(0)
        return (rng.sample(ids, t) for _ in range(MAX_SUBSETS))
    return _by_replacements(ids, t)


def _by_replacements(ids: list[str], t: int) -> Iterator[list[str]]:
    """Every t-subset but the first t, fewest members of the first t replaced first."""
    head, tail = ids[:t], ids[t:]
    for k in range(1, min(t, len(tail)) + 1):
        for dropped in combinations(range(t), k):
            kept = [u for i, u in enumerate(head) if i not in dropped]
            for extra in combinations(tail, k):
                yield kept + list(extra)


def _secret_of(points: Mapping[str, Point], subset: list[str]) -> bytes | None:
    value = interpolate(dict(points[u] for u in subset), 0)
    return value.to_bytes(SECRET_BYTES, "big") if value < 2 ** (8 * SECRET_BYTES) else None


def _berlekamp_welch(points: list[Point], k: int) -> list[int] | None:
    """Coefficients of the polynomial of degree < k through all but at most (m - k) / 2 of ``points``.

    Solves Q(x_i) = y_i·E(x_i) for an error locator E (monic, degree e) and Q (degree < e + k); then
    f = Q / E. None when there is no redundancy to correct with, or too many points are wrong.
    """
    e = (len(points) - k) // 2
    if e == 0:
        return None
    rows = []
    for x, y in points:
        powers = [pow(x, j, PRIME) for j in range(e + k + 1)]
        rows.append([*powers[: e + k], *(-y * p % PRIME for p in powers[:e]), y * powers[e] % PRIME])
    solution = _solve(rows, 2 * e + k)
    if solution is None:
        return None
    quotient, remainder = _divide(solution[: e + k], [*solution[e + k :], 1])
    return quotient if not any(remainder) else None


def _solve(rows: list[list[int]], unknowns: int) -> list[int] | None:
    """One solution of the augmented linear system mod p (free unknowns set to 0), or None if inconsistent."""
    pivots: list[int] = []
    r = 0
    for c in range(unknowns):
        pivot = next((i for i in range(r, len(rows)) if rows[i][c]), None)
        if pivot is None:
            continue
        rows[r], rows[pivot] = rows[pivot], rows[r]
        inverse = pow(rows[r][c], -1, PRIME)
        rows[r] = [v * inverse % PRIME for v in rows[r]]
        for i in range(len(rows)):
            if i != r and rows[i][c]:
                factor = rows[i][c]
                rows[i] = [(a - factor * b) % PRIME for a, b in zip(rows[i], rows[r], strict=True)]
        pivots.append(c)
        r += 1
    if any(row[-1] for row in rows[r:]):
        return None
    solution = [0] * unknowns
    for i, c in enumerate(pivots):
        solution[c] = rows[i][-1]
    return solution


def _divide(numerator: list[int], denominator: list[int]) -> tuple[list[int], list[int]]:
    """Quotient and remainder of polynomials (lowest coefficient first) mod p; ``denominator`` is monic."""
    remainder = numerator[:]
    degree = len(denominator) - 1
    quotient = [0] * max(len(numerator) - degree, 0)
    for i in range(len(quotient) - 1, -1, -1):
        coefficient = remainder[i + degree]
        quotient[i] = coefficient
        for j, d in enumerate(denominator):
            remainder[i + j] = (remainder[i + j] - coefficient * d) % PRIME
    return quotient, remainder[:degree]


def _evaluate(coefficients: list[int], x: int) -> int:
    result = 0
    for coefficient in reversed(coefficients):
        result = (result * x + coefficient) % PRIME
    return result
