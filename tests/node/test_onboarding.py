"""A factory brings its own tables: ``dataspace-node init --data`` describes them, the factory confirms.

Three tables that are not the steel profile, each compared with what its generator declared; a folder that
moves; a profile that does not exist; a file whose columns changed after the config was written.
"""

from __future__ import annotations

import json
import re
import shutil
import tomllib
from pathlib import Path
from typing import Any

import duckdb
import pytest
from typer.testing import CliRunner, Result

from contracts.identity import make_participant_id
from contracts.schema import DatasetSchema, FieldType, nice_step
from node.agent import usable_datasets
from node.cli import app
from node.config import load_config
from node.exceptions import NoUsableDatasetError
from node.offers import readiness_problems

from .conftest import ContextFactory
from .tables import TABLES, Declared, kiln_log

PID = make_participant_id("91320500MA1X2Y3L4")
runner = CliRunner()


def node(*args: str) -> Result:
    return runner.invoke(app, list(args), catch_exceptions=False)


def flat(text: str) -> str:
    """Output as one line: rich boxes and wrapping removed."""
    return " ".join(re.sub(r"[│╭╮╰╯─]", " ", text).split())


def init(directory: Path, *data: str, extra: tuple[str, ...] = ()) -> Result:
    pairs = [a for item in data for a in ("--data", item)]
    return node("init", str(directory), "--participant-id", PID, *pairs, "--accept-buyer", "*", *extra)


def on_grid(value: float, span: float) -> bool:
    """Whether ``value`` is a multiple of a 1-2-5 step no coarser than a fifth of ``span``."""
    step = nice_step(span / 10)
    return any(abs(value / s - round(value / s)) < 1e-9 for s in (step, step / 2, step / 5))


def assert_matches(schema: DatasetSchema, declared: dict[str, Declared]) -> None:
    assert schema.field_names == list(declared)
    for spec in schema.fields:
        truth = declared[spec.name]
        assert spec.type == FieldType(truth.type), spec.name
        assert spec.personal is truth.personal, spec.name
        if truth.low is not None and truth.high is not None:
            span = truth.high - truth.low
            # covers what the generator may write, with headroom but no more than a quarter of the range
            assert spec.lower <= truth.low and spec.upper >= truth.high, spec.name
            assert spec.upper - spec.lower <= 1.5 * span, spec.name
            assert on_grid(spec.lower, spec.upper - spec.lower) and on_grid(
                spec.upper, spec.upper - spec.lower
            )
        else:
            assert spec.min is None and spec.max is None
        assert spec.categories == (list(truth.categories) if truth.categories else None), spec.name


@pytest.mark.parametrize("table", list(TABLES))
def test_init_describes_a_factory_table(tmp_path: Path, table: str) -> None:
    generate, declared = TABLES[table]
    directory = tmp_path / "node"
    generate(directory / "data" / f"{table}.csv")
    result = init(directory, str(directory / "data" / f"{table}.csv"))
    assert result.exit_code == 0, result.output
    dataset = load_config(directory / "node.toml").dataset(table)
    assert_matches(dataset.schema, declared)
    expected_tags = {name: d.tag for name, d in declared.items() if d.tag is not None}
    assert dataset.tags == expected_tags
    # Every value the data suggested is marked for a person to confirm, with its evidence as comments.
    for spec in dataset.schema.fields:
        keys = set(dataset.proposed[spec.name])
        assert "grade" in keys and ({"min", "max"} <= keys) == spec.type.is_numeric
        assert ("categories" in keys) == (spec.categories is not None)
    text = (directory / "node.toml").read_text(encoding="utf-8")
    assert text.count("# proposal: ") >= 3 * len(declared)
    checked = node("check", "--dir", str(directory))
    assert checked.exit_code == 0 and "proposed values not confirmed yet" in checked.output
    assert f'paths = ["data/{table}.csv"]' in text  # relative to the node's folder
    # Confirming is all that is left, but for a tag the vocabulary lacks: the factory picks one.
    assert node("confirm", table, "--dir", str(directory)).exit_code == 0
    confirmed = load_config(directory / "node.toml").dataset(table)
    assert confirmed.unconfirmed() == {}
    untagged = sorted(name for name, d in declared.items() if d.tag is None)
    assert [p.split()[1] for p in readiness_problems(confirmed)] == untagged
    assert node("check", "--dir", str(directory)).exit_code == 0


def test_inspector_names_are_personal_and_never_published_as_categories(tmp_path: Path) -> None:
    generate, _ = TABLES["quality_inspection"]
    path = generate(tmp_path / "qc.csv")
    assert init(tmp_path, f"quality={path}").exit_code == 0
    dataset = load_config(tmp_path / "node.toml").dataset("quality")
    inspector = dataset.schema.field("inspector")
    assert inspector.personal and inspector.type is FieldType.TEXT and inspector.categories is None
    assert dataset.grades["inspector"] == "important" and dataset.tags["inspector"] == "person_name"
    names = {row.split(",")[1] for row in path.read_text(encoding="utf-8").splitlines()[1:]}
    text = (tmp_path / "node.toml").read_text(encoding="utf-8")
    assert not any(name in text for name in names)  # the schema is public: no name may be in it
    assert "detector person_name" in text and "the column name says person_name" in text


def test_parquet_gives_the_same_schema(tmp_path: Path) -> None:
    source = kiln_log(tmp_path / "csv" / "kiln.csv")
    target = tmp_path / "pq" / "kiln.parquet"
    target.parent.mkdir()
    typed = "CAST(timestamp AS TIMESTAMP) AS timestamp, kiln_id, temperature, fuel_rate"
    duckdb.sql(f"COPY (SELECT {typed} FROM read_csv('{source}')) TO '{target}' (FORMAT parquet)")
    assert init(tmp_path / "a", f"kiln={source}").exit_code == 0
    assert init(tmp_path / "b", f"kiln={target}").exit_code == 0
    schemas = [load_config(tmp_path / d / "node.toml").dataset("kiln").schema for d in "ab"]
    assert schemas[0] == schemas[1]


def test_the_node_folder_can_move(tmp_path: Path) -> None:
    first = tmp_path / "site" / "node"
    kiln_log(first / "data" / "kiln.csv")
    assert init(first, str(first / "data" / "kiln.csv")).exit_code == 0
    moved = tmp_path / "elsewhere" / "node"
    moved.parent.mkdir()
    shutil.move(first, moved)
    assert not first.exists()
    config = load_config(moved / "node.toml")
    assert config.dataset("kiln").paths == [moved.resolve() / "data" / "kiln.csv"]
    result = node("check", "--dir", str(moved))
    assert result.exit_code == 0 and "kiln: usable" in result.output


def test_unknown_profile_is_a_clear_error(tmp_path: Path) -> None:
    data = tmp_path / "x.csv"
    for args in (
        ["init", str(tmp_path), "--participant-id", PID, "--profile", "cement", "--dataset", f"x={data}"],
        ["sample-data", "--profile", "cement", "-o", str(data)],
    ):
        result = runner.invoke(app, args)
        assert result.exit_code == 2, result.output
        assert "unknown sample-data profile 'cement'; known: steel" in flat(result.output)
        assert "Traceback" not in result.output and isinstance(result.exception, SystemExit)
    assert not (tmp_path / "node.toml").exists() and not data.exists()


def test_an_own_file_given_as_sample_data_is_refused(tmp_path: Path) -> None:
    path = kiln_log(tmp_path / "kiln.csv")
    result = node("init", str(tmp_path / "n"), "--participant-id", PID, "--dataset", f"kiln={path}")
    assert result.exit_code == 2
    assert "is not steel sample data" in flat(result.output) and "--data kiln=" in flat(result.output)


def test_columns_that_changed_are_reported_and_not_offered(
    tmp_path: Path, make_context: ContextFactory
) -> None:
    path = kiln_log(tmp_path / "data" / "kiln.csv")
    assert init(tmp_path, str(path)).exit_code == 0
    assert node("confirm", "kiln", "--dir", str(tmp_path)).exit_code == 0
    original = path.read_text(encoding="utf-8")
    # A new export renames a column, another turns the fuel rate into words.
    path.write_text(original.replace("temperature", "temp_c", 1), encoding="utf-8")
    result = node("check", "--dir", str(tmp_path))
    assert result.exit_code == 1
    assert "kiln: NOT USABLE" in result.output
    assert "declared field temperature is not in the header (is it 'temp_c'?)" in result.output
    dataset = load_config(tmp_path / "node.toml").dataset("kiln")
    with pytest.raises(NoUsableDatasetError):  # the node does not start offering it
        usable_datasets(make_context([dataset]))
    published = node("publish", "kiln", "--purpose", "energy_benchmarking", "--dir", str(tmp_path))
    assert published.exit_code == 2 and "not usable, so it is not offered" in published.output
    lines = original.splitlines()
    words = [lines[0]] + [",".join([*r.split(",")[:3], "high"]) for r in lines[1:]]
    path.write_text("\n".join(words) + "\n", encoding="utf-8")
    result = node("check", "--json", "--dir", str(tmp_path))
    assert result.exit_code == 1
    [problem] = [p for f in _files(result) for p in f["problems"]]
    assert problem["code"] == "schema_mismatch" and "fuel_rate" in problem["message"]
    assert "do not parse as number" in problem["message"]


def _files(result: Result) -> list[dict[str, Any]]:
    return [f for d in json.loads(result.output)["datasets"] for f in d["files"]]


def test_a_changed_dataset_is_left_out_of_the_hello(tmp_path: Path, make_context: ContextFactory) -> None:
    good, changed = kiln_log(tmp_path / "a" / "kiln.csv"), kiln_log(tmp_path / "b" / "kiln.csv", seed=1)
    assert init(tmp_path / "a", f"kiln={good}", f"other={changed}").exit_code == 0
    changed.write_text(changed.read_text(encoding="utf-8").replace("kiln_id", "kiln", 1), encoding="utf-8")
    config = load_config(tmp_path / "a" / "node.toml")
    offered = usable_datasets(make_context(config.datasets))
    assert [d.name for d in offered] == ["kiln"]


def test_skipped_columns_are_named_with_the_reason(tmp_path: Path) -> None:
    path = tmp_path / "odd.csv"
    path.write_text("Temperature (C),line\n1200.5,L1\n1210.0,L2\n", encoding="utf-8")
    assert init(tmp_path / "n", f"odd={path}").exit_code == 0
    text = (tmp_path / "n" / "node.toml").read_text(encoding="utf-8")
    assert "'Temperature (C)' is not a field name" in text and "'temperature_c'" in text
    raw = tomllib.loads(text)
    assert [f["name"] for f in raw["datasets"][0]["fields"]] == ["line"]
