"""Errors raised by the factory node.

Hierarchy::

    NodeError
    ├── ConfigError            the node's TOML configuration is missing, malformed or invalid (names the key)
    ├── LocalComputeError      the local statistics could not be computed over the dataset files
    │   └── DataError          a dataset's files cannot be used (``code``; ``reason`` may leave the node)
    │       ├── DataMissing        data_missing: a file is not there (deleted, moved, not a regular file)
    │       ├── DataUnreadable     data_unreadable: empty, truncated, malformed, not UTF-8, corrupt, no access
    │       └── SchemaMismatch     schema_mismatch: a declared field is not in a file's header
    ├── NoUsableDatasetError   at start-up, every configured dataset failed its check
    ├── EnrollmentError        enrollment was refused or the coordinator's identity did not check out
    └── JobRefused             the node declines a job (code + message go back to the coordinator)
"""

from __future__ import annotations

from typing import ClassVar


class NodeError(Exception):
    """Base of every node error."""


class ConfigError(NodeError):
    """``key`` is the dotted TOML key at fault (``datasets[0].fields[2].max``), when there is one."""

    def __init__(self, message: str, *, key: str | None = None):
        super().__init__(message)
        self.key = key


class LocalComputeError(NodeError):
    pass


class DataError(LocalComputeError):
    """A dataset file cannot be used.

    ``reason`` says what is wrong without a path, a line number or any cell, so it may be sent to the
    coordinator (a line number would bound the factory's row count); ``detail`` is for the node's own
    journal and its staff.
    """

    code: ClassVar[str] = "data_unreadable"

    def __init__(self, reason: str, detail: str = "") -> None:
        super().__init__(f"{reason} ({detail})" if detail else reason)
        self.reason = reason
        self.detail = detail


class DataMissing(DataError):
    code = "data_missing"


class DataUnreadable(DataError):
    code = "data_unreadable"


class SchemaMismatch(DataError):
    code = "schema_mismatch"


class NoUsableDatasetError(NodeError):
    """No configured dataset passed its check at start-up: the node has nothing to offer."""


class EnrollmentError(NodeError):
    """Enrollment was refused or the coordinator's identity did not check out."""


class CertificateRefusedError(NodeError):
    """The coordinator refuses this node's certificate (revoked, superseded, or not a factory's).

    Dialling again cannot help; only enrolling again with a new token does.
    """


class JobRefused(NodeError):
    """The node declines a job; ``code`` and the message go back to the coordinator, ``detail`` stays home."""

    def __init__(self, code: str, message: str, *, detail: str = "") -> None:
        super().__init__(message)
        self.code = code
        self.detail = detail
