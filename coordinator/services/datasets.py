"""The public schema of a dataset name, as declared by the nodes that hold such a dataset."""

from __future__ import annotations

from collections import Counter

from contracts.schema import DatasetSchema
from coordinator.exceptions import InvalidRequestError
from coordinator.store.database import Store


def dataset_schema(store: Store, dataset: str) -> tuple[DatasetSchema, list[str]]:
    """Return the schema most nodes declare for ``dataset`` and the ids of the nodes declaring exactly it.

    Nodes declaring a different schema under the same name are left out of jobs on that dataset, since
    every participant must agree on the layout of the vector that is summed.
    """
    rows = store.node_datasets(dataset)
    if not rows:
        raise InvalidRequestError(
            f"no node offers a dataset named {dataset!r}",
            code="unknown_dataset",
            details={"dataset": dataset},
        )
    canonical = {row.participant_id: _canonical(row.schema_text) for row in rows}
    chosen, _count = Counter(canonical.values()).most_common(1)[0]
    holders = sorted(pid for pid, text in canonical.items() if text == chosen)
    return DatasetSchema.model_validate_json(chosen), holders


def _canonical(schema_text: str) -> str:
    return DatasetSchema.model_validate_json(schema_text).model_dump_json()
