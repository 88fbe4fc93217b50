from __future__ import annotations

import tomllib
from pathlib import Path

import pytest

from contracts.jobspec import JobKind
from contracts.schema import DatasetSchema
from node.config import AcceptRule, DatasetConfig, NodeConfig, load_config, render_config
from node.exceptions import ConfigError
from node.sampledata import profile_schema

BUYER = "91110000MA01ABCD1X"


def odd_schema() -> DatasetSchema:
    """Strings that need TOML escaping, integer bounds and a personal category."""
    return DatasetSchema.model_validate(
        {
            "name": "quality_lab",
            "description": 'Lab results "as measured"\nsecond line\twith tab \\ backslash \x7f and 中文',
            "fields": [
                {"name": "grade", "type": "category", "categories": ['Q235"B', "Q345\\C", "HRB400E"]},
                {"name": "hardness", "type": "integer", "unit": "HB", "min": -5, "max": 400},
                {"name": "ratio", "type": "number", "min": 1e-05, "max": 2.5e20},
                {"name": "inspector", "type": "category", "categories": ["x"], "personal": True},
            ],
        }
    )


def write_rendered(tmp_path: Path, **overrides: object) -> Path:
    arguments: dict[str, object] = {
        "node_name": 'Plant "Nord" 3',
        "participant_id": "91310000MA1FL8XQ30",
        "datasets": [
            ("steel_production", Path("data/steel.csv"), profile_schema()),
            ("quality_lab", [tmp_path / "lab" / "a.parquet", Path("lab/b.pq")], odd_schema()),
        ],
        "accept": [("*", ["count", JobKind.MEAN]), (BUYER, [JobKind.LINEAR_REGRESSION])],
    } | overrides
    path = tmp_path / "node.toml"
    path.write_text(render_config(**arguments), encoding="utf-8")  # type: ignore[arg-type]
    return path


def test_render_then_load_gives_the_same_objects(tmp_path: Path) -> None:
    config = load_config(write_rendered(tmp_path))
    assert config == NodeConfig(
        node_name='Plant "Nord" 3',
        participant_id="91310000MA1FL8XQ30",
        datasets=[
            DatasetConfig(
                name="steel_production",
                paths=[tmp_path / "data" / "steel.csv"],
                format="csv",
                schema=profile_schema(),
            ),
            DatasetConfig(
                name="quality_lab",
                paths=[tmp_path / "lab" / "a.parquet", tmp_path / "lab" / "b.pq"],
                format="parquet",
                schema=odd_schema(),
            ),
        ],
        accept=[
            AcceptRule(buyer="*", kinds=[JobKind.COUNT, JobKind.MEAN]),
            AcceptRule(buyer=BUYER, kinds=[JobKind.LINEAR_REGRESSION]),
        ],
    )
    assert config.dataset("quality_lab").schema.field("hardness").min == -5


def test_rendered_file_is_commented_and_readable(tmp_path: Path) -> None:
    text = write_rendered(tmp_path).read_text(encoding="utf-8")
    assert text.count("\n#") > 20
    for snippet in (
        'unit = "°C"',
        "min = 1400.0",
        "max = 1800.0",
        'categories = ["A", "B", "C"]',
        "min = -5",
    ):
        assert snippet in text
    assert (
        'name = "operator_mobile"\ntype = "text"\ndescription = "operator\'s mobile number"\npersonal = true'
        in text
    )


def test_rendered_dataset_name_wins_over_schema_name(tmp_path: Path) -> None:
    path = write_rendered(tmp_path, datasets=[("melt_shop", Path("x.csv"), profile_schema())])
    assert load_config(path).datasets[0].schema.name == "melt_shop"


def test_render_refuses_mixed_file_types() -> None:
    with pytest.raises(ValueError, match=r"must all be \.csv or all \.parquet"):
        render_config(
            node_name="n",
            participant_id="p",
            datasets=[("d", [Path("a.csv"), Path("b.xlsx")], odd_schema())],
            accept=[],
        )


def test_no_rules_accept_nothing(tmp_path: Path) -> None:
    config = load_config(write_rendered(tmp_path, accept=[]))
    assert config.accept == []
    assert not config.accepts(BUYER, JobKind.COUNT)


def test_accepts(tmp_path: Path) -> None:
    config = load_config(write_rendered(tmp_path))
    assert config.accepts("anyone", JobKind.COUNT) and config.accepts("anyone", "mean")
    assert not config.accepts("anyone", JobKind.LINEAR_REGRESSION)
    assert config.accepts(BUYER, JobKind.LINEAR_REGRESSION) and config.accepts(BUYER, JobKind.COUNT)
    assert not config.accepts(BUYER, JobKind.HISTOGRAM)


def test_unknown_dataset_lookup(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as caught:
        load_config(write_rendered(tmp_path)).dataset("nope")
    assert caught.value.key == "datasets"


def edit(path: Path, old: str, new: str, count: int = 1) -> Path:
    text = path.read_text(encoding="utf-8")
    assert old in text
    path.write_text(text.replace(old, new, count), encoding="utf-8")
    return path


@pytest.mark.parametrize(
    ("old", "new", "key", "message"),
    [
        ('node_name = "Plant \\"Nord\\" 3"\n', "", "node_name", "Field required"),
        ('participant_id = "91310000MA1FL8XQ30"', 'participant_id = ""', "participant_id", "at least 1"),
        ("max = 1800.0", "", "datasets[0].fields[5]", "need both min and max"),
        ("min = 1400.0", "min = 1900.0", "datasets[0].fields[5]", "must be below max"),
        ('type = "number"', 'type = "float"', "datasets[0].fields[5].type", "number"),
        ('name = "furnace_temp_c"', 'name = "Furnace Temp"', "datasets[0].fields[5].name", "pattern"),
        ('name = "line"', 'name = "shift"', "datasets[0]", "duplicate field name 'shift'"),
        ('paths = ["data/steel.csv"]', "paths = []", "datasets[0].paths", "at least 1"),
        ('paths = ["data/steel.csv"]', 'paths = "data/steel.csv"', "datasets[0].paths", "list"),
        (
            'paths = ["data/steel.csv"]',
            'paths = ["steel.xlsx"]',
            "datasets[0].format",
            "cannot infer the format",
        ),
        ('# format = "csv"', 'format = "excel"', "datasets[0].format", "'csv' or 'parquet'"),
        ('kinds = ["linear_regression"]', 'kinds = ["median"]', "accept[1].kinds[0]", "count"),
        ('buyer = "*"', "", "accept[0].buyer", "Field required"),
        (
            "personal = false",
            "personal = false\nsensitive = true",
            "datasets[0].fields[0].sensitive",
            "Extra",
        ),
        ('name = "quality_lab"', 'name = "steel_production"', "", "dataset names must be unique"),
    ],
)
def test_bad_config_names_the_key(tmp_path: Path, old: str, new: str, key: str, message: str) -> None:
    path = edit(write_rendered(tmp_path), old, new)
    with pytest.raises(ConfigError, match=message) as caught:
        load_config(path)
    assert caught.value.key == key
    assert str(path) in str(caught.value)


def test_explicit_format_overrides_the_suffix(tmp_path: Path) -> None:
    path = edit(
        write_rendered(tmp_path),
        'paths = ["data/steel.csv"]\n',
        'paths = ["data/steel.txt"]\nformat = "csv"\n',
    )
    assert load_config(path).datasets[0].format == "csv"


def test_invalid_toml_and_missing_file(tmp_path: Path) -> None:
    path = edit(write_rendered(tmp_path), "min = 1400.0", "min = = 1400.0")
    with pytest.raises(ConfigError, match=r"not valid TOML.*line"):
        load_config(path)
    with pytest.raises(ConfigError, match="cannot read configuration"):
        load_config(tmp_path / "absent.toml")


def test_rendered_toml_is_plain_toml(tmp_path: Path) -> None:
    raw = tomllib.loads(write_rendered(tmp_path).read_text(encoding="utf-8"))
    assert raw["datasets"][1]["description"] == odd_schema().description
    assert raw["datasets"][1]["fields"][2]["max"] == 2.5e20
