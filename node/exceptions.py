"""Errors raised by the factory node.

Hierarchy::

    NodeError
    ├── ConfigError          the node's TOML configuration is missing, malformed or invalid (names the key)
    └── LocalComputeError    the local statistics could not be computed over the dataset files
"""

from __future__ import annotations


class NodeError(Exception):
    """Base of every node error."""


class ConfigError(NodeError):
    def __init__(self, message: str, *, key: str | None = None):
        super().__init__(f"{key}: {message}" if key else message)
        self.key = key


class LocalComputeError(NodeError):
    pass
