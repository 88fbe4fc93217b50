"""Contract signatures: RFC 8032 vectors, RFC 8785 canonical bytes, tamper evidence and missing signatures."""

from __future__ import annotations

import base64
import hashlib
import re
from pathlib import Path
from typing import Any

import pytest
import rfc8785
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from contracts.agreement import Contract, advance
from contracts.exceptions import SignatureError, SignatureErrorCode
from contracts.negotiation import Event
from contracts.signatures import PartySignature, canonical, key_id
from contracts.signing import (
    countersign,
    countersignature_payload,
    sign_terms,
    terms_payload,
    verify_contract,
    verify_signature,
)
from tests.contracts.test_offers import (
    BUYER,
    NOW,
    OPERATOR,
    PRIVATE_KEYS,
    PROVIDERS,
    PUBLIC_KEYS,
    STRANGER,
    draft,
    finalize,
    sign_all,
)

VECTORS = Path(__file__).resolve().parents[1] / "vectors" / "ed25519" / "rfc8032-7.1.txt"


def rfc8032_vectors() -> list[Any]:
    cases = []
    for block in VECTORS.read_text().split("-----")[1:]:
        name, body = block.split("\n", 1)
        parts = re.split(r"^(SECRET KEY|PUBLIC KEY|MESSAGE|SIGNATURE)[^\n]*:\n", body, flags=re.MULTILINE)
        fields = {
            label: bytes.fromhex("".join(value.split()))
            for label, value in zip(parts[1::2], parts[2::2], strict=True)
        }
        cases.append(pytest.param(fields, id=name.strip()))
    return cases


@pytest.mark.parametrize("vector", rfc8032_vectors())
def test_rfc8032_vectors(vector: dict[str, bytes]) -> None:
    secret = Ed25519PrivateKey.from_private_bytes(vector["SECRET KEY"])
    public = secret.public_key()
    assert public.public_bytes(Encoding.Raw, PublicFormat.Raw) == vector["PUBLIC KEY"]
    assert secret.sign(vector["MESSAGE"]) == vector["SIGNATURE"]
    Ed25519PublicKey.from_public_bytes(vector["PUBLIC KEY"]).verify(vector["SIGNATURE"], vector["MESSAGE"])
    with pytest.raises(InvalidSignature):
        public.verify(vector["SIGNATURE"], vector["MESSAGE"] + b"\x00")


def test_all_five_vectors_are_present_and_sha_abc_is_what_it_says() -> None:
    ids = [p.id for p in rfc8032_vectors()]
    assert ids == ["TEST 1", "TEST 2", "TEST 3", "TEST 1024", "TEST SHA(abc)"]
    by_id = {p.id: p.values[0] for p in rfc8032_vectors()}
    assert len(by_id["TEST 1024"]["MESSAGE"]) == 1023
    assert by_id["TEST SHA(abc)"]["MESSAGE"] == hashlib.sha512(b"abc").digest()


def test_key_id_is_the_first_eight_bytes_of_sha256_of_the_raw_key() -> None:
    raw = bytes.fromhex("d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a")
    expected = hashlib.sha256(raw).hexdigest()[:16]
    assert key_id(raw) == expected
    assert key_id(Ed25519PublicKey.from_public_bytes(raw)) == expected


@pytest.mark.parametrize(
    ("document", "expected"),
    [
        ({"b": 1, "a": 2, "aa": 3, "A": 4}, b'{"A":4,"a":2,"aa":3,"b":1}'),
        # Keys sort by UTF-16 code units: U+1F600 (a surrogate pair from 0xD83D) comes before U+FB00.
        (
            {"\u20ac": 1, "\U0001f600": 2, "\ufb00": 3, "\r": 4, "1": 5},
            b'{"\\r":4,"1":5,"\xe2\x82\xac":1,"\xf0\x9f\x98\x80":2,"\xef\xac\x80":3}',
        ),
        ({"名称": "温度传感器", "单位": "°C"}, '{"单位":"°C","名称":"温度传感器"}'.encode()),
        (
            '"\\\b\f\n\r\t\u0001\u001f\u007f/\u2028',
            b'"\\"\\\\\\b\\f\\n\\r\\t\\u0001\\u001f\x7f/\xe2\x80\xa8"',
        ),
        (1.0, b"1"),
        (-0.0, b"0"),
        (0.1 + 0.2, b"0.30000000000000004"),
        (0.000001, b"0.000001"),
        (1e-7, b"1e-7"),
        (-1.5e-9, b"-1.5e-9"),
        (9007199254740991, b"9007199254740991"),
        ([3, 1, {"z": None, "y": True}], b'[3,1,{"y":true,"z":null}]'),
    ],
)
def test_canonical_json_bytes(document: Any, expected: bytes) -> None:
    assert canonical(document) == expected


# Whole floats from 2^53 on are refused: RFC 8785 prints 1e20 as 100000000000000000000, which reads back
# as an integer no canonical reader accepts (see contracts.canonical and tests/contracts/test_canonical.py).
@pytest.mark.parametrize(
    "value", [float("nan"), float("inf"), 2**53, 2.0**53, 1e20, 1.2345678901234568e20, 1e21]
)
def test_values_outside_canonical_json_are_refused(value: float) -> None:
    with pytest.raises(rfc8785.CanonicalizationError):
        canonical({"x": value})


def test_the_signed_payload_is_canonical_and_keeps_chinese_text() -> None:
    contract = draft()
    payload = terms_payload(contract)
    assert "熔炼车间".encode() in payload
    assert b"\\u" not in payload
    assert payload.startswith(b'{"buyer":')
    assert b'"min":1400,' in payload
    assert b'"contract_id":"contract-1"' in payload
    assert b'"negotiation"' not in payload and b'"signatures"' not in payload


def test_a_finalized_contract_verifies_also_after_a_json_round_trip() -> None:
    contract = finalize(draft())
    verify_contract(contract, PUBLIC_KEYS, PUBLIC_KEYS[OPERATOR])
    raw_keys = {p: k.public_bytes(Encoding.Raw, PublicFormat.Raw) for p, k in PUBLIC_KEYS.items()}
    verify_contract(Contract.model_validate_json(contract.model_dump_json()), raw_keys, raw_keys[OPERATOR])


@pytest.mark.parametrize("party", [BUYER, *PROVIDERS[:3]])
def test_a_missing_party_signature_raises_naming_the_party(party: str) -> None:
    contract = finalize(draft())
    stripped = contract.model_copy(
        update={"signatures": tuple(s for s in contract.signatures if s.party != party)}
    )
    with pytest.raises(SignatureError) as caught:
        verify_contract(stripped, PUBLIC_KEYS, PUBLIC_KEYS[OPERATOR])
    assert caught.value.party == party
    assert caught.value.code == SignatureErrorCode.MISSING_SIGNATURE
    assert caught.value.to_dict()["details"]["party"] == party


def test_a_missing_countersignature_raises_naming_the_operator() -> None:
    with pytest.raises(SignatureError) as caught:
        verify_contract(sign_all(draft()), PUBLIC_KEYS, PUBLIC_KEYS[OPERATOR])
    assert caught.value.party == OPERATOR
    assert caught.value.code == SignatureErrorCode.MISSING_SIGNATURE


def replace_signature(contract: Contract, party: str, **changes: str) -> Contract:
    signatures = tuple(s.model_copy(update=changes) if s.party == party else s for s in contract.signatures)
    return contract.model_copy(update={"signatures": signatures})


def test_every_kind_of_bad_signature_is_caught() -> None:
    contract = finalize(draft())
    party = PROVIDERS[1]
    other_key = PRIVATE_KEYS[STRANGER]
    forged = sign_terms(contract, party, other_key)  # the party's id, someone else's key
    flipped = bytearray(base64.b64decode(contract.signature_of(party).signature))  # type: ignore[union-attr]
    flipped[5] ^= 1
    cases = {
        SignatureErrorCode.KEY_MISMATCH: forged,
        SignatureErrorCode.BAD_SIGNATURE: replace_signature(
            contract, party, signature=base64.b64encode(flipped).decode()
        ),
        SignatureErrorCode.MALFORMED_SIGNATURE: replace_signature(contract, party, signature="not base64!"),
    }
    for code, tampered in cases.items():
        with pytest.raises(SignatureError) as caught:
            verify_contract(tampered, PUBLIC_KEYS, PUBLIC_KEYS[OPERATOR])
        assert (caught.value.code, caught.value.party) == (code, party)
    short = replace_signature(contract, party, signature=base64.b64encode(b"x" * 63).decode())
    with pytest.raises(SignatureError, match="not 64 bytes"):
        verify_signature(short, party, PUBLIC_KEYS[party])


def test_unknown_keys_strangers_and_impostor_countersignatures_are_refused() -> None:
    contract = finalize(draft())
    keys = {p: k for p, k in PUBLIC_KEYS.items() if p != BUYER}
    with pytest.raises(SignatureError) as caught:
        verify_contract(contract, keys, PUBLIC_KEYS[OPERATOR])
    assert (caught.value.code, caught.value.party) == (SignatureErrorCode.UNKNOWN_KEY, BUYER)
    with pytest.raises(SignatureError) as caught:
        sign_terms(contract, STRANGER, PRIVATE_KEYS[STRANGER])
    assert caught.value.code == SignatureErrorCode.NOT_A_PARTY
    extra = PartySignature(party=STRANGER, key_id="00" * 8, signature="")
    with pytest.raises(SignatureError) as caught:
        verify_contract(
            contract.model_copy(update={"signatures": (*contract.signatures, extra)}),
            PUBLIC_KEYS,
            PUBLIC_KEYS[OPERATOR],
        )
    assert (caught.value.code, caught.value.party) == (SignatureErrorCode.UNEXPECTED_SIGNATURE, STRANGER)
    with pytest.raises(SignatureError) as caught:
        verify_contract(contract, PUBLIC_KEYS, PUBLIC_KEYS[STRANGER])
    assert (caught.value.code, caught.value.party) == (SignatureErrorCode.KEY_MISMATCH, OPERATOR)


def test_the_operator_countersigns_only_a_fully_signed_contract() -> None:
    contract = sign_all(draft())
    partial = contract.model_copy(update={"signatures": contract.signatures[1:]})
    with pytest.raises(SignatureError) as caught:
        countersign(partial, PRIVATE_KEYS[OPERATOR], PUBLIC_KEYS)
    assert caught.value.party == contract.signatures[0].party


def test_the_countersignature_covers_the_terms_digest_and_every_party_signature() -> None:
    contract = finalize(draft())
    payload = countersignature_payload(contract)
    assert hashlib.sha256(terms_payload(contract)).hexdigest().encode() in payload
    for signature in contract.signatures:
        assert signature.signature.encode() in payload
    reordered = contract.model_copy(update={"signatures": tuple(reversed(contract.signatures))})
    assert countersignature_payload(reordered) == payload
    verify_contract(reordered, PUBLIC_KEYS, PUBLIC_KEYS[OPERATOR])


def test_signing_events_need_the_signature_on_the_contract() -> None:
    contract = draft()
    for provider in contract.provider_ids:
        contract = advance(contract, Event.OFFER, provider, NOW)
    contract = advance(contract, Event.AGREE, BUYER, NOW)
    with pytest.raises(SignatureError) as caught:
        advance(contract, Event.SIGN, BUYER, NOW)
    assert (caught.value.code, caught.value.party) == (SignatureErrorCode.MISSING_SIGNATURE, BUYER)
    with pytest.raises(SignatureError) as caught:
        advance(sign_all(draft()), Event.COUNTERSIGN, OPERATOR, NOW)
    assert caught.value.party == OPERATOR


FINAL = finalize(draft())
SIGNED_KEYS = ("contract_id", "buyer", "providers", "operator", "purpose", "region", "terms")


def leaves(value: Any, path: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    if isinstance(value, dict):
        return [leaf for key, item in value.items() for leaf in leaves(item, (*path, key))]
    if isinstance(value, list):
        return [leaf for i, item in enumerate(value) for leaf in leaves(item, (*path, i))]
    return [] if value is None else [path]


DOCUMENT = FINAL.model_dump(mode="json")
SIGNED_LEAVES = [p for p in leaves(DOCUMENT) if p[0] in SIGNED_KEYS]


def mutate(value: Any, position: int) -> Any:
    if isinstance(value, bool):
        return not value
    if isinstance(value, int | float):
        return value + 1
    text = str(value)
    if not text:
        return "x"
    i = position % len(text)
    char = text[i]
    swap = (
        "1"
        if char == "0"
        else "0"
        if char.isdigit()
        else "b"
        if char == "a"
        else "a"
        if char.islower()
        else "B"
        if char == "A"
        else "A"
        if char.isupper()
        else "x"
    )
    return text[:i] + swap + text[i + 1 :]


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.filter_too_much])
@given(path=st.sampled_from(SIGNED_LEAVES), position=st.integers(0, 200))
def test_changing_any_signed_value_invalidates_every_signature(path: tuple[Any, ...], position: int) -> None:
    document = FINAL.model_dump(mode="json")
    holder = document
    for key in path[:-1]:
        holder = holder[key]
    holder[path[-1]] = mutate(holder[path[-1]], position)
    try:
        tampered = Contract.model_validate(document)
    except ValidationError:
        assume(False)
        return
    assume(terms_payload(tampered) != terms_payload(FINAL))
    for party in FINAL.parties:
        with pytest.raises(SignatureError) as caught:
            verify_signature(tampered, party, PUBLIC_KEYS[party])
        assert caught.value.code == SignatureErrorCode.BAD_SIGNATURE
    with pytest.raises(SignatureError):
        verify_contract(tampered, PUBLIC_KEYS, PUBLIC_KEYS[OPERATOR])


PAYLOAD = terms_payload(FINAL)


@settings(max_examples=200, deadline=None)
@given(position=st.integers(0, len(PAYLOAD) - 1), bit=st.integers(0, 7))
def test_flipping_any_bit_of_the_signed_bytes_invalidates_every_signature(position: int, bit: int) -> None:
    tampered = bytearray(PAYLOAD)
    tampered[position] ^= 1 << bit
    for party in FINAL.parties:
        signature = base64.b64decode(FINAL.signature_of(party).signature)  # type: ignore[union-attr]
        PUBLIC_KEYS[party].verify(signature, PAYLOAD)
        with pytest.raises(InvalidSignature):
            PUBLIC_KEYS[party].verify(signature, bytes(tampered))
