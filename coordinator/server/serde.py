"""Conversions between secure-aggregation round messages and their protobuf form, coordinator side.

The coordinator decodes client messages (the sender is the authenticated peer, never a wire field) and
encodes server messages.
"""

from __future__ import annotations

from proto.dataspace.v1 import secagg_pb2 as spb
from protocols.exceptions import InvalidMessageError
from protocols.secagg.messages import (
    AdvertiseKeys,
    ConsistencyRequest,
    ConsistencySignature,
    KeyTable,
    MaskedInput,
    PublicKeys,
    RelayedShares,
    ShareKeys,
    UnmaskRequest,
    UnmaskResponse,
)

ClientMessage = AdvertiseKeys | ShareKeys | MaskedInput | ConsistencySignature | UnmaskResponse
ServerMessage = KeyTable | RelayedShares | ConsistencyRequest | UnmaskRequest


def decode_client(message: spb.SecAggClientMessage, sender: str) -> ClientMessage:
    """The round message ``sender`` sent; InvalidMessageError when it carries none (an empty message)."""
    kind = message.WhichOneof("round")
    if kind == "advertise_keys":
        keys = message.advertise_keys.keys
        advertised = PublicKeys(
            keys.cipher_public_key, keys.mask_public_key, keys.seed_commitment, keys.signature
        )
        return AdvertiseKeys(sender, advertised)
    if kind == "encrypted_shares":
        return ShareKeys(sender, dict(message.encrypted_shares.ciphertexts))
    if kind == "masked_input":
        return MaskedInput(sender, message.masked_input.vector)
    if kind == "consistency_signature":
        return ConsistencySignature(sender, message.consistency_signature.signature)
    if kind == "unmask_shares":
        shares = message.unmask_shares
        return UnmaskResponse(sender, dict(shares.seed_shares), dict(shares.key_shares))
    raise InvalidMessageError(f"{sender!r} sent a secure-aggregation message without a round")


def encode_server(message: ServerMessage) -> spb.SecAggServerMessage:
    match message:
        case KeyTable(keys=keys):
            table = {
                pid: spb.PublicKeys(
                    cipher_public_key=k.cipher_public,
                    mask_public_key=k.mask_public,
                    seed_commitment=k.seed_commitment,
                    signature=k.signature,
                )
                for pid, k in keys.items()
            }
            return spb.SecAggServerMessage(key_table=spb.KeyTable(keys=table))
        case RelayedShares(envelopes=envelopes):
            return spb.SecAggServerMessage(share_bundle=spb.ShareBundle(ciphertexts=dict(envelopes)))
        case ConsistencyRequest(survivors=survivors):
            return spb.SecAggServerMessage(
                consistency_request=spb.ConsistencyRequest(survivors=list(survivors))
            )
        case UnmaskRequest(survivors=survivors, dropped=dropped, signatures=signatures):
            request = spb.UnmaskRequest(
                survivors=list(survivors), dropped=list(dropped), signatures=dict(signatures)
            )
            return spb.SecAggServerMessage(unmask_request=request)
    raise TypeError(f"not a server message: {message!r}")
