"""Secure aggregation after Bonawitz et al. (CCS 2017) with dropout recovery."""

from protocols.secagg.config import SecAggConfig
from protocols.secagg.messages import (
    AdvertiseKeys,
    KeyTable,
    MaskedInput,
    PublicKeys,
    RelayedShares,
    ShareKeys,
    UnmaskRequest,
    UnmaskResponse,
)

__all__ = [
    "AdvertiseKeys",
    "KeyTable",
    "MaskedInput",
    "PublicKeys",
    "RelayedShares",
    "SecAggConfig",
    "ShareKeys",
    "UnmaskRequest",
    "UnmaskResponse",
]
