"""Conversions between secure-aggregation round messages and their protobuf form, node side.

The node encodes client messages and decodes server messages; sender ids are never read from the wire.
"""

from __future__ import annotations

from proto.dataspace.v1 import secagg_pb2 as spb
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


def encode_client(message: ClientMessage) -> spb.SecAggClientMessage:
    match message:
        case AdvertiseKeys(keys=keys):
            return spb.SecAggClientMessage(advertise_keys=spb.AdvertiseKeys(keys=_keys_pb(keys)))
        case ShareKeys(envelopes=envelopes):
            return spb.SecAggClientMessage(encrypted_shares=spb.EncryptedShares(ciphertexts=dict(envelopes)))
        case MaskedInput(masked=masked):
            return spb.SecAggClientMessage(masked_input=spb.MaskedInput(vector=masked))
        case ConsistencySignature(signature=signature):
            return spb.SecAggClientMessage(
                consistency_signature=spb.ConsistencySignature(signature=signature)
            )
        case UnmaskResponse(self_mask_shares=seeds, mask_key_shares=keys):
            return spb.SecAggClientMessage(
                unmask_shares=spb.UnmaskShares(seed_shares=dict(seeds), key_shares=dict(keys))
            )
    raise TypeError(f"not a client message: {message!r}")


def decode_server(message: spb.SecAggServerMessage, recipient: str) -> ServerMessage:
    kind = message.WhichOneof("round")
    if kind == "key_table":
        return KeyTable({pid: _keys(k) for pid, k in message.key_table.keys.items()})
    if kind == "share_bundle":
        return RelayedShares(recipient, dict(message.share_bundle.ciphertexts))
    if kind == "consistency_request":
        return ConsistencyRequest(tuple(message.consistency_request.survivors))
    if kind == "unmask_request":
        request = message.unmask_request
        return UnmaskRequest(tuple(request.survivors), tuple(request.dropped), dict(request.signatures))
    raise ValueError(f"unexpected secure-aggregation message {kind!r}")


def _keys_pb(keys: PublicKeys) -> spb.PublicKeys:
    return spb.PublicKeys(
        cipher_public_key=keys.cipher_public,
        mask_public_key=keys.mask_public,
        seed_commitment=keys.seed_commitment,
        signature=keys.signature,
    )


def _keys(keys: spb.PublicKeys) -> PublicKeys:
    return PublicKeys(keys.cipher_public_key, keys.mask_public_key, keys.seed_commitment, keys.signature)
