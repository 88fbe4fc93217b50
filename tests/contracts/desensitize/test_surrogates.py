"""FF1 surrogates: check characters valid by python-stdnum and by naive re-implementations, never equal to
the input, as valid as the input part by part, bijective, stable within a contract only."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from faker import Faker
from hypothesis import given, settings
from hypothesis import strategies as st
from stdnum.cn import ric, uscc

from contracts.desensitize import ContractKey, CreditCodeSurrogate, FF1Rule, ResidentIdSurrogate
from contracts.desensitize.fpe import split_rank, split_unrank
from contracts.desensitize.operators import transform_for
from contracts.desensitize.regions import codes_ever, codes_in_use

USCC_ALPHABET = "0123456789ABCDEFGHJKLMNPQRTUWXY"
KEY = bytes(range(32))


# -- naive references -------------------------------------------------------------------------------
def naive_ric_check(body17: str) -> str:
    """ISO 7064 MOD 11-2 as GB 11643 tabulates it."""
    weights = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2]
    total = sum(int(body17[i]) * weights[i] for i in range(17))
    return ["1", "0", "X", "9", "8", "7", "6", "5", "4", "3", "2"][total % 11]


def naive_uscc_check(body17: str) -> str:
    """GB 32100-2015: weights 3^i mod 31, check = 31 - (sum mod 31), where 31 means 0."""
    total = sum(USCC_ALPHABET.index(c) * (3**i % 31) for i, c in enumerate(body17))
    return USCC_ALPHABET[(31 - total % 31) % 31]


def naive_organisation_check(body8: str) -> str:
    """GB 11714-1997: weights 3 7 9 10 5 8 4 2; letters count from A = 10; 10 is X, 11 is 0."""
    values = [int(c) if c.isdigit() else ord(c) - ord("A") + 10 for c in body8]
    check = 11 - sum(v * w for v, w in zip(values, [3, 7, 9, 10, 5, 8, 4, 2], strict=True)) % 11
    return {10: "X", 11: "0"}.get(check, str(check))


def stdnum_accepts_place(number: str) -> bool:
    try:
        return bool(ric.validate(number))
    except (ric.ValidationError, KeyError):  # stdnum raises KeyError for a province-only code
        return False


def make_id(region: int, born: date, sequence: int) -> str:
    body = f"{region:06d}{born:%Y%m%d}{sequence:03d}"
    return body + naive_ric_check(body)


@st.composite
def resident_ids(draw: st.DrawFn) -> str:
    born = draw(st.dates(min_value=date(1900, 1, 1), max_value=date(2030, 12, 31)))
    in_use = codes_in_use(born.year)
    region = draw(st.sampled_from(in_use) | st.integers(0, 999_999))
    return make_id(region, born, draw(st.integers(0, 999)))


@st.composite
def credit_codes(draw: st.DrawFn) -> str:
    head = draw(st.sampled_from(["91", "92", "93", "11", "12", "51", "52", "53"]))
    region = draw(st.sampled_from(codes_ever()) | st.integers(0, 999_999))
    body = "".join(draw(st.lists(st.sampled_from(USCC_ALPHABET), min_size=8, max_size=8)))
    check = draw(st.just(naive_organisation_check(body)) | st.sampled_from(USCC_ALPHABET))
    code17 = f"{head}{region:06d}{body}{check}"
    return code17 + naive_uscc_check(code17)


# -- resident ids -----------------------------------------------------------------------------------
@settings(max_examples=150, deadline=None)
@given(resident_ids(), st.sampled_from(["keep", "year"]), st.booleans())
def test_resident_id_surrogates(number: str, birth_date: str, keep_sex: bool) -> None:
    mapper = ResidentIdSurrogate(KEY, birth_date=birth_date, keep_sex=keep_sex)  # type: ignore[arg-type]
    surrogate = mapper.forward(number)
    assert surrogate != number
    assert len(surrogate) == 18 and surrogate[:17].isdigit()
    assert surrogate[-1] == ric.calc_check_digit(surrogate) == naive_ric_check(surrogate[:17])
    born = ric.get_birth_date(surrogate)  # a real date
    original = ric.get_birth_date(number)
    assert born.year == original.year
    if birth_date == "keep":
        assert born == original
    if keep_sex:
        assert int(surrogate[16]) % 2 == int(number[16]) % 2
    assert stdnum_accepts_place(surrogate) == stdnum_accepts_place(number)
    assert mapper.backward(surrogate) == number
    assert mapper.forward(number) == surrogate


def test_realistic_resident_ids_pass_stdnum_in_full() -> None:
    fake = Faker("zh_CN")
    fake.seed_instance(7)
    mapper = ResidentIdSurrogate(KEY)
    valid = [n for n in (fake.ssn() for _ in range(300)) if stdnum_accepts_place(n)]
    assert len(valid) > 50
    surrogates = [mapper.forward(n) for n in valid]
    assert all(ric.is_valid(s) for s in surrogates)
    assert all(s != n for s, n in zip(surrogates, valid, strict=True))
    assert len(set(surrogates)) == len(set(valid))


@settings(max_examples=20, deadline=None)
@given(st.lists(resident_ids(), min_size=2, max_size=40, unique=True))
def test_distinct_ids_get_distinct_surrogates(numbers: list[str]) -> None:
    mapper = ResidentIdSurrogate(KEY)
    assert len({mapper.forward(n) for n in numbers}) == len(numbers)


def test_keep_mode_keeps_the_date_and_moves_every_id() -> None:
    mapper = ResidentIdSurrogate(KEY, birth_date="keep")
    numbers = [make_id(110101, date(1990, 3, 7), s) for s in range(1000)]
    surrogates = [mapper.forward(n) for n in numbers]
    assert all(s[6:14] == "19900307" for s in surrogates)
    assert len(set(surrogates)) == 1000
    assert all(s != n for s, n in zip(surrogates, numbers, strict=True))


def test_resident_id_surrogates_depend_on_the_key() -> None:
    number = make_id(110101, date(1990, 3, 7), 123)
    assert ResidentIdSurrogate(KEY).forward(number) != ResidentIdSurrogate(bytes(32)).forward(number)


def _wrong_check(body17: str) -> str:
    return body17 + ("0" if naive_ric_check(body17) != "0" else "1")


@pytest.mark.parametrize(
    ("number", "reason"),
    [
        ("11010119900307123", "17 digits"),
        ("1101011990030712345", "17 digits"),
        ("11010A199003071230", "17 digits"),
        (_wrong_check("11010119900307123"), "check character"),
        (make_id(110101, date(1990, 2, 28), 123).replace("0228", "0230"), "check character"),
        ("11010119900230123" + naive_ric_check("11010119900230123"), "birth date"),
    ],
)
def test_malformed_resident_ids_are_refused_without_echo(number: str, reason: str) -> None:
    with pytest.raises(ValueError, match=reason) as caught:
        ResidentIdSurrogate(KEY).forward(number)
    assert number[:14] not in str(caught.value)


# -- credit codes -----------------------------------------------------------------------------------
@settings(max_examples=150, deadline=None)
@given(credit_codes())
def test_credit_code_surrogates(code: str) -> None:
    mapper = CreditCodeSurrogate(KEY)
    surrogate = mapper.forward(code)
    assert surrogate != code
    assert uscc.is_valid(surrogate)
    assert surrogate[-1] == naive_uscc_check(surrogate[:17])
    assert surrogate[:2] == code[:2]
    assert surrogate[:8].isdigit()
    org_valid = code[16] == naive_organisation_check(code[8:16])
    assert (surrogate[16] == naive_organisation_check(surrogate[8:16])) == org_valid
    assert (int(surrogate[2:8]) in set(codes_ever())) == (int(code[2:8]) in set(codes_ever()))
    assert mapper.backward(surrogate) == code


def test_a_known_credit_code() -> None:
    code = "91110000600037341L"  # python-stdnum's example; 60003734-1 is a valid organisation code
    surrogate = CreditCodeSurrogate(KEY).forward(code.lower())
    assert uscc.is_valid(surrogate) and surrogate != code
    assert surrogate[16] == naive_organisation_check(surrogate[8:16])


@pytest.mark.parametrize(
    "code", ["91110000600037341M", "9111000060003734IL", "A1110000600037341L", "911100006000373"]
)
def test_malformed_credit_codes_are_refused(code: str) -> None:
    with pytest.raises(ValueError) as caught:
        CreditCodeSurrogate(KEY).forward(code)
    assert code not in str(caught.value)


# -- numeric and alphanumeric, through the rule ----------------------------------------------------
def test_numeric_and_alphanumeric_keep_the_format(key: ContractKey, other_key: ContractKey) -> None:
    numeric = transform_for(FF1Rule(format="numeric"), key)
    phone = numeric("138-1234-5678", {})
    assert isinstance(phone, str) and phone != "138-1234-5678"
    assert [c for c in phone if not c.isdigit()] == ["-", "-"] and phone[3] == phone[8] == "-"
    assert numeric("138-1234-5678", {}) == phone
    assert transform_for(FF1Rule(format="numeric"), other_key)("138-1234-5678", {}) != phone
    alnum = transform_for(FF1Rule(format="alphanumeric"), key)
    serial = alnum("SN-ab12/CD", {})
    assert isinstance(serial, str) and serial != "SN-ab12/CD" and serial[2] == "-" and serial[7] == "/"
    with pytest.raises(ValueError, match="fewer than 6"):
        numeric("12-345", {})
    with pytest.raises(ValueError, match="text"):
        numeric(13812345678, {})


def test_the_rule_dispatches_to_the_id_surrogates(key: ContractKey) -> None:
    number = make_id(110101, date(1990, 3, 7), 123)
    out = transform_for(FF1Rule(format="resident_id", birth_date="keep"), key)(number, {})
    assert isinstance(out, str) and ric.is_valid(out) and out[6:14] == "19900307"
    out = transform_for(FF1Rule(format="uscc"), key)("91110000600037341L", {})
    assert isinstance(out, str) and uscc.is_valid(out)


@pytest.mark.parametrize("year", [1950, 1986, 1991, 1992, 2010, 2024])
def test_the_region_table_agrees_with_stdnum(year: int) -> None:
    in_use = set(codes_in_use(year))
    sample = sorted(in_use)[::7] + list(range(100_000, 830_000, 997))
    for region in sample:
        assert stdnum_accepts_place(make_id(region, date(year, 6, 1), 1)) == (region in in_use), region


# -- ranks inside and outside a set -----------------------------------------------------------------
@given(st.lists(st.integers(0, 199), unique=True).map(sorted), st.integers(0, 199))
def test_split_rank_round_trips(members: list[int], value: int) -> None:
    member, rank, size = split_rank(members, value, 200)
    assert member == (value in members)
    assert 0 <= rank < size
    assert size == (len(members) if member else 200 - len(members))
    assert split_unrank(members, member, rank) == value


def test_year_mode_spreads_dates_over_the_year() -> None:
    mapper = ResidentIdSurrogate(KEY, birth_date="year")
    start = date(2000, 1, 1)
    surrogates = [mapper.forward(make_id(110101, start + timedelta(days=d), 5)) for d in range(366)]
    assert all(ric.get_birth_date(s).year == 2000 for s in surrogates)
    assert len({s[10:14] for s in surrogates}) > 200  # 366 random draws of 366 days give ~231 distinct
