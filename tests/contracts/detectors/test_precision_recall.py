"""Precision and recall of every detector on a seeded corpus, and the false alarms of random digits.

Negatives for a kind are its hand-made near misses, industrial values, and the positives of every other
kind, so a resident ID that passes Luhn counts against the card detector if it is reported as a card.
"""

from __future__ import annotations

import random
from datetime import date

import pytest

from contracts.detectors import VALUE_KINDS, Kind, find_identifiers
from tests.contracts.detectors.corpus import Corpus, build_corpus, detects, score

SEED = 20250601
N = 2000
FLOOR = 0.99


@pytest.fixture(scope="module")
def corpus() -> tuple[Corpus, date]:
    # Faker dates birthdays back from the real today, so the detectors take the same today.
    today = date.today()
    return build_corpus(SEED, N, today), today


@pytest.mark.parametrize("kind", VALUE_KINDS)
def test_precision_and_recall_reach_the_floor(kind: Kind, corpus: tuple[Corpus, date]) -> None:
    data, today = corpus
    result = score(kind, data, today)
    assert result.tp + result.fn == N and result.fp + result.tn > N
    assert result.precision >= FLOOR, result.false_alarms[:20]
    assert result.recall >= FLOOR, result.missed[:20]


def test_industrial_values_hold_no_identifier(corpus: tuple[Corpus, date]) -> None:
    data, today = corpus
    assert [v for v in data.industrial if find_identifiers(v, today=today, names=True)] == []


@pytest.mark.parametrize(
    ("length", "kind", "ceiling"),
    [
        (11, Kind.MOBILE, 0.08),
        (16, Kind.BANK_CARD, 0.06),
        (18, Kind.USCC, 0.03),
        (18, Kind.RESIDENT_ID, 0.001),
    ],
)
def test_false_alarm_rate_on_uniformly_random_digits(length: int, kind: Kind, ceiling: float) -> None:
    # What a check digit can and cannot do: one random number in ten passes Luhn, one in 31 the credit-code
    # check. Real order and serial numbers are rarely uniform (dates, letters), which the corpus covers.
    rng = random.Random(SEED)
    today = date(2025, 6, 1)
    values = ["".join(rng.choice("0123456789") for _ in range(length)) for _ in range(5000)]
    rate = sum(detects(kind, v, today) for v in values) / len(values)
    assert rate <= ceiling
