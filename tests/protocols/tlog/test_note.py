from __future__ import annotations

import base64

import pytest

from protocols.tlog.exceptions import (
    KeyFormatError,
    MalformedNoteError,
    NoteError,
    SignatureError,
    UnverifiedNoteError,
)
from protocols.tlog.note import (
    NoteSigner,
    NoteVerifier,
    Signature,
    compute_key_id,
    open_note,
    sign_note,
)

# The public example of golang.org/x/mod/sumdb/note, the reference implementation of the format.
GO_VKEY = "PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW"
GO_SKEY = "PRIVATE+KEY+PeterNeumann+c74f20a3+AYEKFALVFGyNhPJEMzD1QIDr+Y7hfZx09iUvxdXHKDFz"
GO_TEXT = (
    "If you think cryptography is the answer to your problem,\nthen you don't know what your problem is.\n"
)
GO_SIG = "x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvqfqdngotpRZb6KE6RyyBwJnAM="
GO_NOTE = GO_TEXT + "\n— PeterNeumann " + GO_SIG + "\n"


@pytest.fixture
def go_verifier() -> NoteVerifier:
    return NoteVerifier.from_key_string(GO_VKEY)


def test_go_example_signs_byte_for_byte() -> None:
    signer = NoteSigner.from_key_string(GO_SKEY)
    assert signer.key_id == 0xC74F20A3
    assert signer.key_string() == GO_SKEY
    assert signer.verifier().key_string() == GO_VKEY
    assert sign_note(GO_TEXT, signer) == GO_NOTE


def test_go_example_verifies(go_verifier: NoteVerifier) -> None:
    note = open_note(GO_NOTE.encode(), [go_verifier])
    assert note.text == GO_TEXT
    assert [(s.name, s.key_id) for s in note.sigs] == [("PeterNeumann", 0xC74F20A3)]
    assert note.unverified_sigs == ()


def test_every_changed_byte_is_rejected(go_verifier: NoteVerifier) -> None:
    raw = GO_NOTE.encode()
    for position in range(len(raw)):
        for flip in (0x01, 0x20, 0x80):
            changed = bytearray(raw)
            changed[position] ^= flip
            with pytest.raises(NoteError):
                open_note(bytes(changed), [go_verifier])


def test_key_id_is_sha256_of_name_type_and_key(go_verifier: NoteVerifier) -> None:
    assert compute_key_id("PeterNeumann", 0x01, go_verifier.public_key) == 0xC74F20A3
    assert go_verifier.key_id == 0xC74F20A3


@pytest.mark.parametrize(
    "key",
    [
        "PeterNeumann+c74f20a4+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW",  # wrong key ID
        "PeterNeumann+C74F20A3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW",  # upper-case hex
        "PeterNeumann+c74f20a3+AhpcKQcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW",  # unknown algorithm
        "PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10",  # short key
        "PeterNeumann+c74f20a3",
        "Peter Neumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW",
        "+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW",
        GO_SKEY,  # a private key is not a verifier key
    ],
)
def test_malformed_verifier_keys(key: str) -> None:
    with pytest.raises(KeyFormatError):
        NoteVerifier.from_key_string(key)


def test_malformed_signer_keys() -> None:
    with pytest.raises(KeyFormatError):
        NoteSigner.from_key_string(GO_VKEY)
    with pytest.raises(KeyFormatError):
        NoteSigner.from_key_string(GO_SKEY.replace("c74f20a3", "c74f20a4"))
    with pytest.raises(KeyFormatError):
        NoteSigner("bad+name", bytes(32))


def test_round_trip_with_a_fresh_key() -> None:
    signer = NoteSigner("log.example/audit", bytes(range(32)))
    again = NoteSigner.from_key_string(signer.key_string())
    note = sign_note("hello\nworld\n", again)
    assert open_note(note, [signer.verifier()]).text == "hello\nworld\n"
    assert NoteVerifier.from_key_string(signer.verifier().key_string()) == signer.verifier()


@pytest.mark.parametrize(
    "note",
    [
        b"",
        GO_TEXT.encode(),  # no signatures
        GO_NOTE.encode()[:-1],  # no final newline
        GO_NOTE.replace("\n—", "—").encode(),  # no blank line
        GO_NOTE.replace("— ", "-- ").encode(),
        GO_NOTE.replace("— PeterNeumann ", "— PeterNeumann  ").encode(),
        GO_NOTE.replace("JnAM=", "JnAM").encode(),  # unpadded base64
        GO_NOTE.replace("JnAM=", "JnAN=").encode(),  # non-canonical trailing bits
        GO_NOTE.replace("then", "th\ren").encode(),  # control character
        GO_NOTE.encode() + b"\n",  # empty signature line
        GO_NOTE.encode().replace(b"cryptography", b"crypt\xffgraphy"),  # not UTF-8
        "hi\n\n— PeterNeumann AAAA\n".encode(),  # signature too short
    ],
)
def test_malformed_notes(note: bytes, go_verifier: NoteVerifier) -> None:
    with pytest.raises(MalformedNoteError):
        open_note(note, [go_verifier])


def test_unknown_keys_are_skipped_but_one_known_signature_is_required(go_verifier: NoteVerifier) -> None:
    other = NoteSigner("other.example", bytes(32))
    signed_by_other = sign_note(GO_TEXT, other)
    with pytest.raises(UnverifiedNoteError):
        open_note(signed_by_other, [go_verifier])
    both = GO_NOTE + signed_by_other.removeprefix(GO_TEXT + "\n")
    note = open_note(both, [go_verifier])
    assert [s.name for s in note.sigs] == ["PeterNeumann"]
    assert [s.name for s in note.unverified_sigs] == ["other.example"]


def test_same_name_other_key_is_unknown(go_verifier: NoteVerifier) -> None:
    impostor = NoteSigner("PeterNeumann", bytes(32))
    with pytest.raises(UnverifiedNoteError):
        open_note(sign_note(GO_TEXT, impostor), [go_verifier])


def test_bad_signature_from_a_known_key_rejects_the_note(go_verifier: NoteVerifier) -> None:
    forged = Signature("PeterNeumann", 0xC74F20A3, bytes(64)).line()
    other = NoteSigner("other.example", bytes(32))
    note = sign_note(GO_TEXT, other) + forged
    with pytest.raises(SignatureError):
        open_note(note, [go_verifier, other.verifier()])


def test_text_must_end_in_newline() -> None:
    with pytest.raises(MalformedNoteError):
        sign_note("no newline", NoteSigner("a", bytes(32)))


def test_signature_blob_layout() -> None:
    line = Signature("k", 0x01020304, b"sig").line()
    assert line == "— k " + base64.b64encode(b"\x01\x02\x03\x04sig").decode() + "\n"
