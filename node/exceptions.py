"""Errors of the node agent.

    NodeError
    ├── ConfigError        the node configuration is missing, malformed or inconsistent
    ├── EnrollmentError    enrollment was refused or the coordinator's identity did not check out
    └── JobRefused         the node declines a job (code + message go back to the coordinator)
"""

from __future__ import annotations


class NodeError(Exception):
    """Base class of node errors."""


class ConfigError(NodeError):
    """The node configuration is missing, malformed or inconsistent."""


class EnrollmentError(NodeError):
    """Enrollment was refused or the coordinator's identity did not check out."""


class JobRefused(NodeError):
    """The node declines a job; ``code`` is machine-readable and goes back to the coordinator."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
