"""The node's DuckDB engine: one configuration for every connection that reads a dataset file."""

from __future__ import annotations

import functools

import duckdb

_CONNECTION_CONFIG: dict[str, str | bool | int | float | list[str]] = {
    # A factory node must not fetch code at run time.
    "autoinstall_known_extensions": False,
    "autoload_known_extensions": False,
    # DuckDB 2.0 pushes TRY_CAST into the CSV reader, where it becomes a failing strict cast.
    "disabled_optimizers": "type_pushdown",
}


def connect() -> duckdb.DuckDBPyConnection:
    """A new in-memory connection (the data check uses one per file: rejected lines are per connection)."""
    return duckdb.connect(":memory:", config=_CONNECTION_CONFIG)


@functools.cache
def shared() -> duckdb.DuckDBPyConnection:
    """The connection jobs share; opening one costs more than a small query, and jobs use own cursors."""
    return connect()
