"""Public contexts: the buyer's carries no secret key, and a node refuses anything but a public context for
the expected parameter set — whatever bytes a hostile peer sends."""

import contextlib
import dataclasses

import pytest
import tenseal as ts

from protocols.he import (
    BFV_8192,
    CKKS_8192,
    CKKS_16384,
    HEMessageError,
    KeyOwner,
    SecretKeyInContextError,
    _seal,
    fingerprint,
    load_public_context,
    wire,
)


def test_public_context_has_no_secret_key(scoring_owner: KeyOwner) -> None:
    data = scoring_owner.public_context()
    assert 3 not in wire.context_fields(data)  # no private part on the wire at all
    raw = ts.context_from(data)
    assert not raw.has_secret_key() and raw.is_public() and raw.has_galois_keys() and not raw.has_relin_keys()


def test_load_refuses_a_private_context() -> None:
    private = _seal.new_private_context(CKKS_8192, 1).serialize(save_secret_key=True)
    with pytest.raises(SecretKeyInContextError):
        load_public_context(private, CKKS_8192)


def test_load_refuses_another_parameter_set(ckks_owner: KeyOwner, bfv_owner: KeyOwner) -> None:
    with pytest.raises(HEMessageError, match="parameter set"):
        load_public_context(ckks_owner.public_context(), BFV_8192)
    with pytest.raises(HEMessageError, match="parameter set"):
        load_public_context(bfv_owner.public_context(), CKKS_8192)
    with pytest.raises(HEMessageError, match="parameter set"):
        load_public_context(ckks_owner.public_context(), CKKS_16384)


def test_load_requires_galois_keys_for_scoring(ckks_owner: KeyOwner) -> None:
    with pytest.raises(HEMessageError, match="Galois"):
        load_public_context(ckks_owner.public_context(), CKKS_8192, galois_keys=True)


def test_load_resets_flags_a_peer_could_tamper_with(ckks_owner: KeyOwner) -> None:
    context = ts.context_from(ckks_owner.public_context())
    context.auto_rescale = False
    context.global_scale = 2.0**20
    public = load_public_context(context.serialize(save_galois_keys=False, save_relin_keys=False), CKKS_8192)
    assert public.tenseal.auto_rescale and public.tenseal.global_scale == CKKS_8192.scale


def test_symmetric_contexts_are_refused() -> None:
    context = ts.context(
        ts.SCHEME_TYPE.CKKS,
        8192,
        coeff_mod_bit_sizes=[60, 40, 40, 60],
        encryption_type=ts.ENCRYPTION_TYPE.SYMMETRIC,
    )
    with pytest.raises(HEMessageError):
        load_public_context(context.serialize(save_secret_key=False), CKKS_8192)


def test_oversized_context_is_refused_before_parsing(ckks_owner: KeyOwner) -> None:
    small = dataclasses.replace(CKKS_8192, max_public_context_bytes=1000)
    with pytest.raises(HEMessageError, match="exceeds"):
        load_public_context(ckks_owner.public_context(), small)


@pytest.mark.parametrize("data", [b"", b"\x00", b"\xff" * 64, bytes(range(256)) * 8, "text", None])
def test_garbage_contexts_give_the_typed_error(data: object) -> None:
    with pytest.raises(HEMessageError):
        load_public_context(data, CKKS_8192)  # type: ignore[arg-type]


def test_truncated_contexts_give_the_typed_error(ckks_owner: KeyOwner) -> None:
    data = ckks_owner.public_context()
    for cut in (1, 2, 10, 100, 1000, len(data) // 3, len(data) // 2, len(data) - 1):
        with pytest.raises(HEMessageError):
            load_public_context(data[:cut], CKKS_8192)


def test_flipped_bytes_never_crash(ckks_owner: KeyOwner) -> None:
    """Single corrupted bytes either still load (harmless bits) or give the typed error — never a crash."""
    data = bytearray(ckks_owner.public_context())
    for position in range(0, 4000, 97):
        corrupted = data.copy()
        corrupted[position] ^= 0x5A
        with contextlib.suppress(HEMessageError):
            load_public_context(bytes(corrupted), CKKS_8192)


def test_fingerprint_pins_the_bytes(ckks_owner: KeyOwner) -> None:
    data = ckks_owner.public_context()
    public = load_public_context(data, CKKS_8192)
    assert public.fingerprint == fingerprint(data) == fingerprint(ckks_owner.public_context())
    assert fingerprint(data[:-1] + bytes([data[-1] ^ 1])) != public.fingerprint
