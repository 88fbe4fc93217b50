"""Transparency-log primitives: RFC 9162 Merkle proofs, C2SP signed notes, checkpoints, cosignatures.

Pure and shared: the coordinator keeps the log, every node verifies and cosigns what it is shown.
"""
