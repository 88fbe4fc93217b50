"""Pure cryptography and math, with no I/O and no network.

Secure aggregation (``secagg``), fixed-point encoding, differential-privacy samplers (``dp``), the
transparency log (``tlog``), FF1 format-preserving encryption, homomorphic encryption over TenSEAL (``he``)
and private set intersection on ristretto255 (``psi``).
"""
