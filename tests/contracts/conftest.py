from __future__ import annotations

import pytest

from contracts.schema import DatasetSchema


@pytest.fixture
def schema() -> DatasetSchema:
    """A small plant schema covering every field type, including personal fields."""
    return DatasetSchema.model_validate(
        {
            "name": "plant",
            "description": "test plant",
            "fields": [
                {"name": "ts", "type": "timestamp"},
                {"name": "shift", "type": "category", "categories": ["A", "B", "C"]},
                {"name": "temp", "type": "number", "unit": "°C", "min": 1400, "max": 1800},
                {"name": "energy", "type": "number", "unit": "kWh/t", "min": 300, "max": 700},
                {"name": "scrap", "type": "number", "min": 0, "max": 1},
                {"name": "cycle", "type": "integer", "unit": "min", "min": 10, "max": 120},
                {"name": "note", "type": "text"},
                {"name": "operator_name", "type": "text", "personal": True},
                {"name": "badge", "type": "category", "categories": ["x", "y"], "personal": True},
            ],
        }
    )
