"""What a node declares when it connects, checked before anything of it is stored or used.

A node's Hello lists its datasets with their public schemas. Jobs on a dataset lay out their vectors from
the schema its holders declare, so one malformed declaration must never reach the store: the Hello is
refused on its own, and every other node's jobs go on.
"""

from __future__ import annotations

import re

from pydantic import ValidationError

from contracts.schema import IDENTIFIER_PATTERN, DatasetSchema
from coordinator.exceptions import InvalidRequestError
from proto.dataspace.v1 import node_service_pb2 as pb

MAX_DATASETS = 64
MAX_SCHEMA_BYTES = 256 * 1024
_NAME = re.compile(IDENTIFIER_PATTERN)


def declared_datasets(hello: pb.Hello) -> dict[str, str]:
    """The datasets of a Hello as canonical schema JSON by name; raise ``InvalidRequestError`` on a fault."""
    if len(hello.datasets) > MAX_DATASETS:
        raise InvalidRequestError(
            f"a node may declare at most {MAX_DATASETS} datasets", code="hello_refused",
            details={"datasets": len(hello.datasets)},
        )  # fmt: skip
    declared: dict[str, str] = {}
    for item in hello.datasets:
        name = item.name
        if not _NAME.fullmatch(name) or name in declared:
            raise InvalidRequestError(
                "a dataset name is malformed or declared twice", code="hello_refused",
                details={"dataset": name[:64]},
            )  # fmt: skip
        if len(item.schema_json.encode("utf-8", "surrogatepass")) > MAX_SCHEMA_BYTES:
            raise InvalidRequestError(
                f"the schema of {name!r} exceeds {MAX_SCHEMA_BYTES} bytes", code="hello_refused",
                details={"dataset": name},
            )  # fmt: skip
        declared[name] = _schema(name, item.schema_json).model_dump_json()
    return declared


def _schema(name: str, schema_json: str) -> DatasetSchema:
    try:
        schema = DatasetSchema.model_validate_json(schema_json)
    except (ValidationError, ValueError) as exc:
        first = exc.errors()[0]["msg"] if isinstance(exc, ValidationError) else str(exc)
        raise InvalidRequestError(
            f"the schema of {name!r} is malformed: {first}", code="hello_refused", details={"dataset": name}
        ) from None
    if schema.name != name:
        raise InvalidRequestError(
            f"dataset {name!r} declares a schema named {schema.name!r}", code="hello_refused",
            details={"dataset": name},
        )  # fmt: skip
    return schema
