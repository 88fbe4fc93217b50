from __future__ import annotations

import base64
import hashlib
from datetime import UTC, datetime

import pytest

from protocols.tlog.checkpoint import (
    Checkpoint,
    WitnessKey,
    WitnessVerifier,
    cosign,
    cosignature_timestamp,
    cosigned_message,
    format_checkpoint,
    open_checkpoint,
    parse_checkpoint,
    verify_cosignature,
)
from protocols.tlog.exceptions import (
    CheckpointError,
    KeyFormatError,
    NoteError,
    SignatureError,
    UnverifiedNoteError,
)
from protocols.tlog.note import NoteSigner, open_note, parse_signature_line, sign_note

ROOT = base64.b64decode("CsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=")
BODY = "example.com/behind-the-sofa\n20852163\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n"
NOW = datetime(2023, 3, 20, 12, 25, 47, tzinfo=UTC)


@pytest.fixture
def witness() -> WitnessKey:
    return WitnessKey("witness.example.com/w1", hashlib.sha256(b"witness seed").digest())


def test_format_and_parse_round_trip() -> None:
    checkpoint = Checkpoint("example.com/behind-the-sofa", 20852163, ROOT)
    assert format_checkpoint(checkpoint) == BODY
    assert parse_checkpoint(BODY) == checkpoint
    extended = Checkpoint("example.com/log", 0, ROOT, ("ext one", "ext two"))
    assert parse_checkpoint(format_checkpoint(extended)) == extended


@pytest.mark.parametrize(
    "body",
    [
        BODY[:-1],  # no final newline
        "example.com/log\n5\n",  # no root line
        "\n5\n" + BODY.split("\n")[2] + "\n",  # empty origin
        BODY.replace("\n20852163\n", "\n020852163\n"),  # leading zero
        BODY.replace("\n20852163\n", "\n+20852163\n"),
        BODY.replace("\n20852163\n", "\n 20852163\n"),
        BODY.replace("\n20852163\n", "\n-1\n"),
        BODY.replace("\n20852163\n", "\n0x10\n"),
        BODY.replace("\n20852163\n", "\n18446744073709551616\n"),  # beyond 64 bits
        BODY.replace("q2I=", "q2I"),  # unpadded
        BODY.replace("q2I=", "q2J="),  # non-canonical trailing bits
        BODY.replace("CsUY", "CsU_"),  # URL-safe alphabet
        "example.com/log\n5\n" + base64.b64encode(bytes(31)).decode() + "\n",  # short root
        BODY + "\n",  # empty extension line
        BODY.replace("\n", "\r\n"),
    ],
)
def test_parse_is_strict(body: str) -> None:
    with pytest.raises(CheckpointError):
        parse_checkpoint(body)


def test_cosigned_message_layout() -> None:
    assert cosigned_message(BODY, 1679315147) == b"cosignature/v1\ntime 1679315147\n" + BODY.encode()


def test_cosignature_round_trip(witness: WitnessKey) -> None:
    line = cosign(BODY, witness, NOW)
    verifier = witness.verifier()
    verify_cosignature(BODY, line, verifier)
    sig = parse_signature_line(line.removesuffix("\n"))
    assert sig.name == "witness.example.com/w1"
    assert sig.key_id == verifier.key_id
    assert len(sig.signature) == 8 + 64
    assert cosignature_timestamp(sig.signature) == int(NOW.timestamp())


def test_cosignature_key_id_uses_type_0x04(witness: WitnessKey) -> None:
    verifier = witness.verifier()
    digest = hashlib.sha256(verifier.name.encode() + b"\n\x04" + verifier.public_key).digest()
    assert verifier.key_id == int.from_bytes(digest[:4], "big")
    assert WitnessVerifier.from_key_string(verifier.key_string()) == verifier
    assert WitnessKey.from_key_string(witness.key_string()).verifier() == verifier


def test_keys_of_the_other_type_are_refused(witness: WitnessKey) -> None:
    log_key = NoteSigner("example.com/log", bytes(32))
    with pytest.raises(KeyFormatError):
        WitnessVerifier.from_key_string(log_key.verifier().key_string())
    with pytest.raises(KeyFormatError):
        WitnessKey.from_key_string(log_key.key_string())


def test_cosignature_over_other_body_or_time_fails(witness: WitnessKey) -> None:
    line = cosign(BODY, witness, NOW)
    other_body = BODY.replace("20852163", "20852164")
    with pytest.raises(SignatureError):
        verify_cosignature(other_body, line, witness.verifier())
    sig = parse_signature_line(line.removesuffix("\n"))
    later = (cosignature_timestamp(sig.signature) + 1).to_bytes(8, "big") + sig.signature[8:]
    shifted = type(sig)(sig.name, sig.key_id, later).line()
    with pytest.raises(SignatureError):
        verify_cosignature(BODY, shifted, witness.verifier())


def test_cosignature_from_another_witness_is_refused(witness: WitnessKey) -> None:
    other = WitnessKey("witness.example.com/w2", bytes(32))
    with pytest.raises(SignatureError):
        verify_cosignature(BODY, cosign(BODY, other, NOW), witness.verifier())


def test_cosign_refuses_non_checkpoints_and_naive_times(witness: WitnessKey) -> None:
    with pytest.raises(CheckpointError):
        cosign("not a checkpoint\n", witness, NOW)
    with pytest.raises(ValueError):
        cosign(BODY, witness, datetime(2023, 1, 1))


def test_cosigned_checkpoint_opens_as_a_note(witness: WitnessKey) -> None:
    log_key = NoteSigner("example.com/behind-the-sofa", bytes(32))
    note = sign_note(BODY, log_key) + cosign(BODY, witness, NOW)
    opened = open_note(note, [log_key.verifier(), witness.verifier()])
    assert {s.name for s in opened.sigs} == {"example.com/behind-the-sofa", "witness.example.com/w1"}
    only_log = open_note(note, [log_key.verifier()])
    assert [s.name for s in only_log.unverified_sigs] == ["witness.example.com/w1"]
    tampered = note.replace("20852163", "20852164")
    with pytest.raises(NoteError):
        open_note(tampered, [witness.verifier()])


def test_open_checkpoint_returns_the_verified_cosignatures(witness: WitnessKey) -> None:
    log_key = NoteSigner("example.com/behind-the-sofa", bytes(32))
    note = sign_note(BODY, log_key) + cosign(BODY, witness, NOW)
    checkpoint, cosigners = open_checkpoint(note, log_key.verifier(), [witness.verifier()])
    assert checkpoint.size == 20852163
    assert [s.name for s in cosigners] == ["witness.example.com/w1"]
    assert open_checkpoint(note, log_key.verifier())[1] == ()


def test_open_checkpoint_demands_the_log_signature(witness: WitnessKey) -> None:
    """Attack: a witness signs a checkpoint of the log on its own; its cosignature is not the log's word."""
    log_key = NoteSigner("example.com/behind-the-sofa", bytes(32))
    witness_only = BODY + "\n" + cosign(BODY, witness, NOW)
    assert open_note(witness_only, [log_key.verifier(), witness.verifier()]).text == BODY  # a valid note
    with pytest.raises(UnverifiedNoteError, match="not signed by the log key"):
        open_checkpoint(witness_only, log_key.verifier(), [witness.verifier()])


def test_open_checkpoint_refuses_another_log_origin() -> None:
    other_log = NoteSigner("example.com/other", bytes(32))
    with pytest.raises(CheckpointError, match="another log"):
        open_checkpoint(sign_note(BODY, other_log), other_log.verifier())
