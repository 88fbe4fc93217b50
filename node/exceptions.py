"""Errors raised by the factory node.

Hierarchy::

    NodeError
    ├── ConfigError          the node's TOML configuration is missing, malformed or invalid (names the key)
    ├── LocalComputeError    the local statistics could not be computed over the dataset files
    ├── EnrollmentError      enrollment was refused or the coordinator's identity did not check out
    └── JobRefused           the node declines a job (code + message go back to the coordinator)
"""

from __future__ import annotations


class NodeError(Exception):
    """Base of every node error."""


class ConfigError(NodeError):
    """``key`` is the dotted TOML key at fault (``datasets[0].fields[2].max``), when there is one."""

    def __init__(self, message: str, *, key: str | None = None):
        super().__init__(message)
        self.key = key


class LocalComputeError(NodeError):
    pass


class EnrollmentError(NodeError):
    """Enrollment was refused or the coordinator's identity did not check out."""


class JobRefused(NodeError):
    """The node declines a job; ``code`` is machine-readable and goes back to the coordinator."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
