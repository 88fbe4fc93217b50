import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from protocols.psi.exceptions import InvalidKeyError, UnknownNormalizationError, ValueBoundError
from protocols.psi.normalize import canonical_key, names, normalize_keys, normalize_rows

VALID_CODE = "91110000600037341L"  # a well-formed code whose mod-31 check character is right
BAD_CHECK = "91110000600037341M"  # the same code with a wrong check character


def test_registry_names() -> None:
    assert names() == ("credit_code", "exact", "part_number", "text")


def test_unknown_name_is_a_typed_error() -> None:
    with pytest.raises(UnknownNormalizationError, match="no_such"):
        normalize_keys("no_such", ["x"])


@pytest.mark.parametrize(
    "written",
    [
        VALID_CODE,
        " 91110000600037341l ",
        "9111 0000 6000 3734 1L",
        "911100-006000-37341-l",
        "９１１１００００６０００３７３４１Ｌ",  # full-width, as typed with a Chinese IME
        "91110000600037341\u2013L".replace("\u2013", ""),
        "9111\u20140000\u00a06000 37341L",
    ],
)
def test_credit_codes_written_differently_match(written: str) -> None:
    assert canonical_key("credit_code", written) == VALID_CODE


def test_credit_code_check_digit() -> None:
    keys = normalize_keys("credit_code", [VALID_CODE, BAD_CHECK, "   ", "123"])
    assert keys.keys == (VALID_CODE,)
    assert keys.invalid == (BAD_CHECK, "   ", "123")
    with pytest.raises(InvalidKeyError) as raised:
        normalize_keys("credit_code", [VALID_CODE, BAD_CHECK], strict=True)
    assert raised.value.keys == (BAD_CHECK,)
    # Without validation the canonical form is kept, so both sides still match on a shared typo.
    assert normalize_keys("credit_code", [BAD_CHECK.lower()], validate=False).keys == (BAD_CHECK,)


def test_part_numbers() -> None:
    forms = ["AB-12.3", "ab 123", "ＡＢ＿１２３", "a/b_1-2.3", "AB\u201012\u22123"]
    assert {canonical_key("part_number", f) for f in forms} == {"ab123"}
    assert canonical_key("part_number", "-._/ ") is None


def test_text() -> None:
    assert canonical_key("text", "  ACME   Trading\tLtd ") == "acme trading ltd"
    assert canonical_key("text", "Straße") == canonical_key("text", "STRASSE") == "strasse"
    assert canonical_key("text", "ＡＣＭＥ") == "acme"
    assert canonical_key("exact", " A ") == " A "


def test_too_long_keys_are_invalid() -> None:
    assert normalize_keys("exact", ["x" * 257]).invalid == ("x" * 257,)
    assert normalize_keys("exact", ["x" * 256]).keys == ("x" * 256,)


def test_duplicates_after_normalisation_are_merged() -> None:
    keys = normalize_keys("text", ["Acme", "ACME ", "acme", "Beta"])
    assert keys.keys == ("acme", "beta")
    assert keys.duplicates == 2


def test_rows_with_the_same_key_are_summed() -> None:
    rows = normalize_rows("text", [("Acme", 5), ("ACME", 7), ("Beta", 0), ("", 3)])
    assert rows.items == (("acme", 12), ("beta", 0))
    assert rows.duplicates == 1
    assert rows.invalid == ("",)
    assert rows.total == 12


@pytest.mark.parametrize("value", [-1, 1.5, True, "3"])
def test_rows_refuse_values_that_are_not_non_negative_integers(value: object) -> None:
    with pytest.raises(ValueBoundError):
        normalize_rows("exact", [("k", value)])  # type: ignore[list-item]


@settings(max_examples=300, deadline=None)
@given(raw=st.text(max_size=40), name=st.sampled_from(["part_number", "text", "exact", "credit_code"]))
def test_normalisation_is_idempotent(raw: str, name: str) -> None:
    once = canonical_key(name, raw, validate=False)
    if once is not None:
        assert canonical_key(name, once, validate=False) == once
