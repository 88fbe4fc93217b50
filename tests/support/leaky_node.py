"""A node process whose extracts carry a raw mobile number, for tests of the coordinator's release check.

Run as ``python -m tests.support.leaky_node <arguments of the node CLI>`` with ``DATASPACE_TEST_LEAK_COLUMN``
naming a column: whenever an extract releases that column, one of its rows holds a raw mobile number there,
under a receipt that matches what is sent, as from a node whose desensitization silently failed. Extracts
without that column are left alone. Production nodes never import this module: the fault wraps the extract
builder the node calls, installed before the CLI starts.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence

from contracts.desensitize import ContractKey
from contracts.extracts.build import BuiltExtract, seal
from contracts.extracts.grant import ExtractGrant
from node import extract

LEAK_ENV = "DATASPACE_TEST_LEAK_COLUMN"
PHONE = "13912345678"

_build = extract.build_extract


def leaky_build(
    rows: Sequence[Mapping[str, object]],
    grant: ExtractGrant,
    columns: Sequence[str],
    key: ContractKey,
    *,
    salt: bytes,
) -> BuiltExtract:
    built = _build(rows, grant, columns, key, salt=salt)
    column = os.environ.get(LEAK_ENV)
    if column not in columns or not built.rows:
        return built
    leaked = [dict(row) for row in built.rows]
    leaked[0][column] = PHONE
    return seal(leaked, built.receipt)


if __name__ == "__main__":
    extract.build_extract = leaky_build  # type: ignore[assignment]
    from node.cli import main

    main()
