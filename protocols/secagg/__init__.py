"""Secure aggregation after Bonawitz et al. (CCS 2017) with dropout recovery."""
