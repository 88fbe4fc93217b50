"""Secure aggregation after Bonawitz et al. (CCS 2017) with dropout recovery.

Secure against a server that deviates from the protocol (the paper's active variant) or, as a measured
baseline, against a semi-honest one only.
"""

from protocols.secagg.config import SecAggConfig, SecurityMode, threshold_floor
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

__all__ = [
    "AdvertiseKeys",
    "ConsistencyRequest",
    "ConsistencySignature",
    "KeyTable",
    "MaskedInput",
    "PublicKeys",
    "RelayedShares",
    "SecAggConfig",
    "SecurityMode",
    "ShareKeys",
    "UnmaskRequest",
    "UnmaskResponse",
    "threshold_floor",
]
