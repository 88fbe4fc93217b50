"""Pure cryptography and math: secure aggregation, fixed-point encoding (no I/O, no network)."""
