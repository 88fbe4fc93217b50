"""Supply–demand matching (供需精准对接): propose cohorts of offers that serve a demand, best first.

``match`` works in four steps, none of which enumerates combinations of offers:

1. **Fit.** Each offer is checked on its own (``demands.fit_offer``): purpose, region, job kinds, validity
   over the demanded time, job count, price, validity of the offer, and for every demanded tag the fields
   that could carry it (usable, allowed to this buyer, under the grade ceiling).
2. **Group.** Offers are split by what a cohort must share exactly: the dataset (with the extract terms, if
   an extract is demanded), then, tag by tag, one field (name and ``field_key``) carrying that tag. An offer
   with several fields for a tag joins each split; splits with fewer providers than ``min_factories`` are
   dropped and splits with the same members kept once, so nothing that could hold a cohort is lost.
3. **Assemble.** In each group and for each size ``n`` worth trying (``_sizes``: the demanded minimum and
   each larger ``min_cohort`` up to the maximum): the offers accepting a cohort of ``n``
   (``min_cohort <= n``), the best-scoring offer per provider, the top ``n`` providers. Over the price cap,
   swaps that save the most per point of score lost are made until it fits (see ``_repair``).
4. **Verify.** Candidates are ranked by ``Score.total`` (ties by offer ids) and run through the real
   contract path (``demands.check_cohort``); the first ``limit`` that pass are returned.

Why a cohort is found whenever one exists. Let offers ``C`` from ``n`` distinct providers serve the demand,
reading field ``phi(t)`` for each tag ``t``. (i) Every offer of ``C`` passes step 1: each check there is
implied by ``compile_terms``, by the policy (the cross-border prohibition reaches a field any offer grades
important) or by a filter of the demand. (ii) They share the dataset, the extract terms when an extract is
demanded (else no grant, no extract permission) and, per tag, ``phi(t)`` with one ``field_key`` (the terms
keep only fields every offer describes alike), so ``C`` lies in one group of step 2. (iii) Every offer's
``min_cohort <= n``: the contract's minimum is the largest, and the job has ``n`` participants. Then
``m = max(min_factories, largest min_cohort in C)`` is one of ``_sizes`` and any ``m`` members of ``C``
serve as well (prices are not negative); so the group has ``m`` providers eligible at ``m`` whose cheapest
offers together cost no more than ``C``, within the cap, and step 3 returns a cohort of size ``m`` within
it (``_repair``'s, or failing it the cheapest). Conversely, (i) to (iii) and the cap are all the contract
path looks at, so every candidate passes step 4; the check stays because a refusal there costs one
proposal, never a promise.

What is not exact is the ranking: the greedy choice maximises the parts of the score that add up over
members (quality, and price against a cap), not coverage of optional tags or freshness (an intersection
and a minimum), so a better cohort than the one proposed for a group and size may exist.
"""

from __future__ import annotations

import dataclasses
from collections import defaultdict
from collections.abc import Callable, Hashable, Mapping, Sequence
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Final, Self, cast

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, model_validator

from contracts.demands import (
    CURRENCY,
    Demand,
    FieldOption,
    OfferFit,
    check_cohort,
    evaluation_time,
    field_options,
    fit_offer,
    measures_needed,
    validate_demand,
)
from contracts.exceptions import ContractsError, DemandError, DemandErrorCode
from contracts.offers import DatasetOffer, as_utc
from contracts.schema import FieldType
from contracts.vocabulary import TAGS

DEFAULT_LIMIT: Final = 10
MAX_LIMIT: Final = 100
NEUTRAL_QUALITY: Final = 0.5
FRESHNESS_SCALE: Final = timedelta(days=30)  # terms valid this long past the reference score 0.5
REFERENCE_PRICE: Final = Decimal(1000)  # CNY per factory that scores 0.5 when the demand sets no cap


class Weights(BaseModel):
    """How much each score component counts in the total (a weighted mean)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    coverage: float = Field(default=0.35, ge=0, le=1)
    quality: float = Field(default=0.2, ge=0, le=1)
    freshness: float = Field(default=0.15, ge=0, le=1)
    price: float = Field(default=0.3, ge=0, le=1)

    @model_validator(mode="after")
    def _some_weight(self) -> Self:
        if self.coverage + self.quality + self.freshness + self.price <= 0:
            raise ValueError("at least one weight must be above 0")
        return self

    def total(self, coverage: float, quality: float, freshness: float, price: float) -> float:
        weighted = (
            self.coverage * coverage
            + self.quality * quality
            + self.freshness * freshness
            + self.price * price
        )
        return weighted / (self.coverage + self.quality + self.freshness + self.price)


class Score(BaseModel):
    """Each component in [0, 1], higher is better; ``explanation`` says where each came from."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    coverage: float  # share of the optional tags every offer carries alike (1 without optional tags)
    quality: float  # mean of the providers' quality figures (neutral 0.5 where none is given)
    freshness: float  # how long the cohort's common validity lasts past the demanded time
    price: float  # 1 - total / cap, or without a cap 1 / (1 + price per factory / 1000 CNY)
    total: float
    explanation: tuple[str, ...]


class Cohort(BaseModel):
    """Offers from distinct providers that together serve a demand, and the fields its jobs read."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    offers: tuple[DatasetOffer, ...]  # sorted by offer id
    fields: dict[str, str]  # demanded (and covered optional) tag -> field name
    total_price: Decimal
    valid_until: AwareDatetime
    score: Score

    @property
    def offer_ids(self) -> tuple[str, ...]:
        return tuple(o.offer_id for o in self.offers)

    @property
    def providers(self) -> tuple[str, ...]:
        return tuple(o.provider for o in self.offers)

    @property
    def dataset(self) -> str:
        return self.offers[0].dataset


@dataclasses.dataclass(frozen=True)
class _Group:
    fields: dict[str, str]  # required tag -> field name
    members: list[OfferFit]


@dataclasses.dataclass(frozen=True)
class _Candidate:
    fits: tuple[OfferFit, ...]
    fields: dict[str, str]
    score: Score
    valid_until: datetime

    @property
    def ids(self) -> tuple[str, ...]:
        return tuple(f.offer.offer_id for f in self.fits)


def match(
    demand: Demand,
    offers: Sequence[DatasetOffer],
    now: datetime,
    *,
    buyer: str,
    operator: str | None = None,
    limit: int = DEFAULT_LIMIT,
    quality: Mapping[str, float] | None = None,
    weights: Weights | None = None,
) -> list[Cohort]:
    """Up to ``limit`` cohorts serving ``demand``, best first; each passed the real contract path.

    ``quality`` maps offer ids to a data-quality figure in [0, 1] (absent: neutral). With ``operator``
    the check drafts the whole contract (so the operator cannot be a provider); without, it compiles the
    terms. Raises ``DemandError`` for a malformed or ended demand or out-of-range parameters.
    """
    validate_demand(demand)
    evaluation_time(demand, now)
    if not 1 <= limit <= MAX_LIMIT:
        raise DemandError(DemandErrorCode.BAD_MATCH_PARAMETER, f"limit must be 1 to {MAX_LIMIT}", limit=limit)
    scorer = _Scorer(demand, now, _checked_quality(quality), weights or Weights())
    fits: dict[str, OfferFit] = {}
    for offer in sorted(offers, key=lambda o: o.offer_id):
        fit = fit_offer(demand, offer, now, buyer=buyer, operator=operator)
        if isinstance(fit, OfferFit):
            fits.setdefault(offer.offer_id, fit)  # ids name offers; a repeated one is ignored
    candidates: dict[frozenset[str], _Candidate] = {}
    for group in _groups(demand, list(fits.values())):
        for size in _sizes(demand, group.members):
            for chosen in _assemble(scorer, group.members, size, limit):
                found = scorer.candidate(chosen, group.fields)
                candidates.setdefault(frozenset(found.ids), found)
    ranked = sorted(candidates.values(), key=lambda c: (-c.score.total, tuple(sorted(c.ids))))
    cohorts: list[Cohort] = []
    for candidate in ranked:
        offered = [f.offer for f in candidate.fits]
        try:
            check_cohort(demand, offered, candidate.fields, now, buyer=buyer, operator=operator)
        except ContractsError:
            continue  # by the argument above this does not happen; skipping keeps the promise if it did
        cohorts.append(_cohort(candidate))
        if len(cohorts) == limit:
            break
    return cohorts


def score_cohort(
    demand: Demand,
    offers: Sequence[DatasetOffer],
    now: datetime,
    *,
    quality: Mapping[str, float] | None = None,
    weights: Weights | None = None,
) -> Score:
    """The score ``match`` gives ``offers`` as a cohort for ``demand`` (without checking they serve it)."""
    scorer = _Scorer(demand, now, _checked_quality(quality), weights or Weights())
    options = [field_options(demand, o) for o in offers]
    fits = [
        OfferFit(o, (), (), tuple(found[tag] for tag in demand.optional_tags))
        for o, found in zip(offers, options, strict=True)
    ]
    return scorer.candidate(fits, {}).score


def _checked_quality(quality: Mapping[str, float] | None) -> Mapping[str, float]:
    bad = {k: v for k, v in (quality or {}).items() if not 0.0 <= v <= 1.0}
    if bad:
        message = f"quality figures must lie in [0, 1]: {sorted(bad)}"
        raise DemandError(DemandErrorCode.BAD_MATCH_PARAMETER, message, offers=sorted(bad))
    return quality or {}


def _cohort(candidate: _Candidate) -> Cohort:
    offers = tuple(sorted((f.offer for f in candidate.fits), key=lambda o: o.offer_id))
    return Cohort(
        offers=offers,
        fields=candidate.fields,
        total_price=sum((o.price.amount for o in offers), Decimal(0)),
        valid_until=candidate.valid_until,
        score=candidate.score,
    )


# --------------------------------------------------------------------------------------------- groups


def _groups(demand: Demand, fits: list[OfferFit]) -> list[_Group]:
    """Split ``fits`` by what a cohort must share, tag by tag; keep splits that could hold a cohort.

    A split needs ``min_factories`` providers and, once every tag has its field, as many numbers among
    them as the demanded kinds measure (a tag such as ``identifier`` is a category in one schema and an
    integer in another). Splits with the same members are kept once, unless they differ in that count.
    """
    needed = max(measures_needed(kind) for kind in demand.job_kinds)
    splits = _split([((), fits)], lambda fit: (fit.base,), demand.min_factories, needed, record=False)
    for index in range(len(demand.tags)):
        splits = _split(splits, _options_for(index), demand.min_factories, needed, record=True)
    return [
        _Group({tag: option[0] for tag, option in zip(demand.tags, choice, strict=True)}, members)
        for choice, members in splits
        if _numbers(choice, needed) >= needed
    ]


Split = tuple[tuple[FieldOption, ...], list[OfferFit]]


def _options_for(index: int) -> Callable[[OfferFit], Sequence[Hashable]]:
    return lambda fit: fit.required[index]


def _numbers(choice: Sequence[FieldOption], needed: int) -> int:
    """How many chosen fields are numbers (up to ``needed``; ``frozen_key`` starts with the type)."""
    return min(sum(1 for _, key in choice if cast(tuple[FieldType], key)[0].is_numeric), needed)


def _split(
    splits: Sequence[Split],
    options: Callable[[OfferFit], Sequence[Hashable]],
    min_factories: int,
    needed: int,
    *,
    record: bool,
) -> list[Split]:
    """Split each of ``splits`` by ``options`` (an offer joins each of its own), noting the option chosen."""
    kept: dict[tuple[object, ...], Split] = {}
    for choice, members in splits:
        by_option: dict[Hashable, list[OfferFit]] = defaultdict(list)
        for fit in members:
            for option in options(fit):
                by_option[option].append(fit)
        for option, part in by_option.items():
            if len({f.offer.provider for f in part}) < min_factories:
                continue
            chosen = (*choice, cast(FieldOption, option)) if record else choice
            # The same members with as many numbers chosen hold the same cohorts: keep the first.
            key = (_numbers(chosen, needed), *(f.offer.offer_id for f in part))
            kept.setdefault(key, (chosen, part))
    return list(kept.values())


# ------------------------------------------------------------------------------------------- assembly


def _sizes(demand: Demand, members: Sequence[OfferFit]) -> list[int]:
    """The demanded minimum and every larger ``min_cohort`` in range: the sizes worth assembling.

    A cohort of any other size ``n`` holds one of these that serves the demand as well: drop members
    until the size is the larger of the minimum and the largest ``min_cohort`` among them.
    """
    larger = {f.offer.min_cohort for f in members if f.offer.min_cohort in demand.sizes}
    return sorted({demand.min_factories} | larger)


def _assemble(scorer: _Scorer, members: list[OfferFit], size: int, limit: int) -> list[list[OfferFit]]:
    """The best ``size`` providers of a group within the cap, and up to ``limit - 1`` single-swap variants."""
    eligible = [fit for fit in members if fit.offer.min_cohort <= size]
    keys = scorer.offer_keys(eligible, size)

    def key(fit: OfferFit) -> float:
        return keys[fit.offer.offer_id]

    # Sorted once, the first offer of each provider is its best (or cheapest), in ranking order.
    best: dict[str, OfferFit] = {}
    for _, _, fit in sorted((-key(f), f.offer.offer_id, f) for f in eligible):
        best.setdefault(fit.offer.provider, fit)
    if len(best) < size:
        return []
    cheapest: dict[str, OfferFit] = {}
    for _, _, _, fit in sorted((_price(f), -key(f), f.offer.offer_id, f) for f in eligible):
        cheapest.setdefault(fit.offer.provider, fit)
    ranking, by_price = list(best), list(cheapest)
    cap = scorer.demand.max_total_price
    if cap is not None and sum(_price(cheapest[p]) for p in by_price[:size]) > cap:
        return []  # even the cheapest offers of the cheapest providers cost too much
    chosen = {p: best[p] for p in ranking[:size]}
    if cap is not None and _total(chosen) > cap:
        pool = list(dict.fromkeys(ranking[: 2 * size + limit] + by_price[: 2 * size + limit]))
        chosen = _repair(chosen, pool, best, cheapest, key, cap) or {p: cheapest[p] for p in by_price[:size]}
    found = [list(chosen.values())]
    for outsider in ranking[size : size + limit - 1]:
        variant = [best[p] for p in ranking[: size - 1]] + [best[outsider]]
        if cap is None or _total({f.offer.provider: f for f in variant}) <= cap:
            found.append(variant)
    return found


def _repair(
    chosen: dict[str, OfferFit],
    pool: list[str],
    best: Mapping[str, OfferFit],
    cheapest: Mapping[str, OfferFit],
    key: Callable[[OfferFit], float],
    cap: Decimal,
) -> dict[str, OfferFit] | None:
    """Swap offers until the total fits ``cap``, each time the swap losing least score per yuan saved.

    Every swap lowers the total, so this ends. While the total is above the cheapest possible one, a
    cheaper swap exists: a member's own cheapest offer, or one of the cheapest providers still outside,
    all of whom ``pool`` holds. Gives up (None) after a bounded number of swaps.
    """
    chosen = dict(chosen)
    for _ in range(4 * len(chosen) + 16):
        if _total(chosen) <= cap:
            return chosen
        swaps = []
        for member, current in chosen.items():
            options = [(member, cheapest[member])]
            options += [(q, alt) for q in pool if q not in chosen for alt in (best[q], cheapest[q])]
            for provider, alternative in options:
                saved = _price(current) - _price(alternative)
                if saved > 0:
                    loss = key(current) - key(alternative)
                    swaps.append(
                        (loss / float(saved), alternative.offer.offer_id, member, provider, alternative)
                    )
        if not swaps:
            return None
        _, _, member, provider, alternative = min(swaps, key=lambda s: (s[0], s[1], s[2]))
        del chosen[member]
        chosen[provider] = alternative
    return chosen if _total(chosen) <= cap else None


def _price(fit: OfferFit) -> Decimal:
    return fit.offer.price.amount


def _total(chosen: Mapping[str, OfferFit]) -> Decimal:
    return sum((_price(f) for f in chosen.values()), Decimal(0))


# -------------------------------------------------------------------------------------------- scoring


@dataclasses.dataclass(frozen=True)
class _Scorer:
    demand: Demand
    now: datetime
    quality: Mapping[str, float]
    weights: Weights
    cache: dict[str, tuple[float, float]] = dataclasses.field(default_factory=dict)

    @property
    def reference(self) -> datetime:
        """Freshness counts from the end of the demanded coverage, or from now."""
        return self.demand.coverage.end if self.demand.coverage else as_utc(self.now)

    def offer_keys(self, fits: Sequence[OfferFit], size: int) -> dict[str, float]:
        """Each offer's score as if every member of a cohort of ``size`` were like it (orders providers)."""
        w = self.weights
        share = w.price / (w.coverage + w.quality + w.freshness + w.price)
        cap = None if self.demand.max_total_price is None else float(self.demand.max_total_price)
        reference = float(REFERENCE_PRICE)
        keys = {}
        for fit in fits:
            unpriced, price = self._parts(fit)
            if cap is None:
                price_score = 1 / (1 + price / reference)
            else:
                price_score = 1.0 if cap == 0 else 1 - price * size / cap
            keys[fit.offer.offer_id] = unpriced + share * price_score
        return keys

    def _parts(self, fit: OfferFit) -> tuple[float, float]:
        """The part of an offer's key that does not depend on the cohort size, and its price (cached)."""
        found = self.cache.get(fit.offer.offer_id)
        if found is None:
            optional = self.demand.optional_tags
            coverage = sum(1 for options in fit.optional if options) / len(optional) if optional else 1.0
            quality = self.quality.get(fit.offer.offer_id, NEUTRAL_QUALITY)
            freshness = _freshness(fit.offer.not_after - self.reference)
            unpriced = self.weights.total(coverage, quality, freshness, 0.0)
            found = self.cache[fit.offer.offer_id] = (unpriced, float(fit.offer.price.amount))
        return found

    def _price_score(self, total: Decimal, size: int) -> float:
        cap = self.demand.max_total_price
        if cap is not None:
            return 1.0 if cap == 0 else float(1 - total / cap)
        return float(1 / (1 + total / size / REFERENCE_PRICE))

    def candidate(self, fits: Sequence[OfferFit], fields: Mapping[str, str]) -> _Candidate:
        offers = [f.offer for f in fits]
        covered = self._covered(fits)
        optional = self.demand.optional_tags
        coverage = len(covered) / len(optional) if optional else 1.0
        given = [self.quality[o.offer_id] for o in offers if o.offer_id in self.quality]
        quality = (sum(given) + NEUTRAL_QUALITY * (len(offers) - len(given))) / max(len(offers), 1)
        valid_until = min((o.not_after for o in offers), default=self.reference)
        freshness = _freshness(valid_until - self.reference)
        total_price = sum((o.price.amount for o in offers), Decimal(0))
        price = self._price_score(total_price, max(len(offers), 1))
        total = self.weights.total(coverage, quality, freshness, price)
        neutral = "" if len(given) == len(offers) else f", the others count as neutral {NEUTRAL_QUALITY}"
        since = "the end of the coverage" if self.demand.coverage else "now"
        cap = self.demand.max_total_price
        budget = f"the cap of {cap} {CURRENCY}" if cap is not None else f"{REFERENCE_PRICE} per factory"
        w = self.weights
        explanation = (
            self._coverage_text(coverage, fields, covered),
            f"quality {quality:.2f}: {len(given)} of {len(offers)} offers carry a quality figure{neutral}",
            f"freshness {freshness:.2f}: the terms stay valid until {valid_until.isoformat()}, "
            f"{(valid_until - self.reference).days} days after {since}",
            f"price {price:.2f}: {total_price} {CURRENCY} for {len(offers)} factories, against {budget}",
            f"total {total:.3f}: weighted mean (coverage {w.coverage:g}, quality {w.quality:g}, "
            f"freshness {w.freshness:g}, price {w.price:g})",
        )
        score = Score(
            coverage=coverage, quality=quality, freshness=freshness, price=price, total=total,
            explanation=explanation,
        )  # fmt: skip
        return _Candidate(tuple(fits), {**fields, **covered}, score, valid_until)

    def _covered(self, fits: Sequence[OfferFit]) -> dict[str, str]:
        """Optional tags every offer carries in the same field (tag -> the first such field by name)."""
        covered = {}
        for index, tag in enumerate(self.demand.optional_tags):
            common = set.intersection(*(set(f.optional[index]) for f in fits)) if fits else set()
            if common:
                covered[tag] = min(name for name, _ in common)
        return covered

    def _coverage_text(self, coverage: float, fields: Mapping[str, str], covered: Mapping[str, str]) -> str:
        required = ", ".join(f"{_label(t)} in {fields[t]!r}" for t in self.demand.tags if t in fields)
        text = f"coverage {coverage:.2f}: required {required or 'tags'} covered"
        optional = self.demand.optional_tags
        if optional:
            missing = [_label(t) for t in optional if t not in covered]
            text += f"; {len(covered)} of {len(optional)} optional tags carried alike by every offer"
            text += f" (missing {', '.join(missing)})" if missing else ""
        return text


def _freshness(left: timedelta) -> float:
    days = max(left, timedelta(0)) / FRESHNESS_SCALE
    return days / (1 + days)


def _label(tag: str) -> str:
    known = TAGS.get(tag)
    return f"{known.label_zh} {tag}" if known else tag
