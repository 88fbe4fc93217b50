"""Tamper-evident audit log: RFC 9162 Merkle tree over canonical JSON entries, C2SP signed checkpoints.

Modules: ``merkle`` (hashes, proofs), ``note`` (signed notes), ``checkpoint`` (checkpoints, cosignatures),
``entries`` (canonical entries), ``store``/``tables`` (the database log) and ``verify`` (full audit).
"""
