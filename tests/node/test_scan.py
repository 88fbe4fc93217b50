"""``dataspace-node scan`` and ``confirm``: proposals with evidence, recorded in node.toml for a person."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from contracts.identity import make_participant_id
from node.cli import app
from node.config import load_config
from node.exceptions import ConfigError
from node.tomledit import EditError, FieldEdit, edit_fields

from .tables import quality_inspection

PID = make_participant_id("91320500MA1X2Y3L4")
runner = CliRunner()

# Written by hand, as a factory might: a grade confirmed for one field, nothing for the others, comments.
HAND_WRITTEN = """\
node_name = "plant"
participant_id = "{pid}"

[[datasets]]
name = "quality"
paths = ["qc.csv"]

[[datasets.fields]]
name = "inspected_at"
type = "timestamp"

[[datasets.fields]]
# our inspectors sign with their name
name = "inspector"
type = "text"

[[datasets.fields]]
name = "batch_id"
type = "text"
grade = "core"   # batch numbers tell our customers' order volumes

[[datasets.fields]]
name = "defect_count"
type = "integer"
min = 0
max = 20

[[datasets.fields]]
name = "result"
type = "category"
categories = [
    "fail",
    "pass",
]
"""


@pytest.fixture
def plant(tmp_path: Path) -> Path:
    quality_inspection(tmp_path / "qc.csv")
    (tmp_path / "node.toml").write_text(HAND_WRITTEN.format(pid=PID), encoding="utf-8")
    return tmp_path


def test_scan_shows_proposals_with_evidence(plant: Path) -> None:
    result = runner.invoke(app, ["scan", "quality", "--dir", str(plant), "--json"])
    assert result.exit_code == 0, result.output
    proposals = {p["field"]: p for p in json.loads(result.output)}
    inspector = proposals["inspector"]
    assert inspector["personal"] and inspector["grade"] == "important" and inspector["tag"] == "person_name"
    assert any(
        line.startswith("person_name: ") and "sampled (100.0%)" in line for line in inspector["evidence"]
    )
    assert "column name says person_name ('inspector')" in inspector["evidence"]
    assert proposals["defect_count"]["tag"] == "quantity" and not proposals["defect_count"]["personal"]
    table = runner.invoke(app, ["scan", "quality", "--dir", str(plant)], env={"COLUMNS": "160"})
    assert table.exit_code == 0
    assert "evidence" in table.output and "person_name" in table.output and "→ important" in table.output


def test_write_records_proposals_and_keeps_what_a_person_wrote(plant: Path) -> None:
    result = runner.invoke(app, ["scan", "quality", "--dir", str(plant), "--write"])
    assert result.exit_code == 0, result.output
    text = (plant / "node.toml").read_text(encoding="utf-8")
    assert "# our inspectors sign with their name" in text and "# batch numbers tell" in text
    dataset = load_config(plant / "node.toml").dataset("quality")
    inspector = dataset.schema.field("inspector")
    assert inspector.personal and dataset.proposed["inspector"] == ("personal", "grade", "tag")
    assert dataset.grades["batch_id"] == "core" and "grade" not in dataset.proposed["batch_id"]
    assert "kept core, the scan proposes general" in " ".join(result.output.split())
    assert dataset.schema.field("result").categories == ["fail", "pass"]  # a multi-line array survives
    # Writing again changes nothing but the evidence: still proposals, no duplicate notes.
    again = runner.invoke(app, ["scan", "quality", "--dir", str(plant), "--write"])
    assert again.exit_code == 0
    assert load_config(plant / "node.toml").dataset("quality") == dataset
    rewritten = (plant / "node.toml").read_text(encoding="utf-8")
    assert rewritten.count("# proposal: ") == text.count("# proposal: ")


def test_confirm_one_field_then_all(plant: Path) -> None:
    assert runner.invoke(app, ["scan", "quality", "--dir", str(plant), "--write"]).exit_code == 0
    one = runner.invoke(app, ["confirm", "quality", "--field", "inspector", "--dir", str(plant)])
    assert one.exit_code == 0 and "confirmed inspector: personal, grade, tag" in one.output
    left = load_config(plant / "node.toml").dataset("quality").unconfirmed()
    assert "inspector" not in left and "defect_count" in left
    assert runner.invoke(app, ["confirm", "quality", "--dir", str(plant)]).exit_code == 0
    assert load_config(plant / "node.toml").dataset("quality").unconfirmed() == {}
    unknown = runner.invoke(app, ["confirm", "quality", "--field", "nope", "--dir", str(plant)])
    assert unknown.exit_code == 2 and "no field nope" in unknown.output


def test_a_scan_of_a_dataset_whose_files_changed_is_refused(plant: Path) -> None:
    path = plant / "qc.csv"
    path.write_text(path.read_text(encoding="utf-8").replace("inspector", "checked_by", 1), encoding="utf-8")
    result = runner.invoke(app, ["scan", "quality", "--dir", str(plant)])
    assert result.exit_code == 2 and "inspector" in result.output and "check" in result.output


def test_an_edit_that_would_break_the_config_is_not_written(plant: Path) -> None:
    before = (plant / "node.toml").read_text(encoding="utf-8")
    from node.scan import replace_config

    with pytest.raises(ConfigError):
        replace_config(plant / "node.toml", before.replace('type = "timestamp"', 'type = "moment"'))
    assert (plant / "node.toml").read_text(encoding="utf-8") == before
    assert [p.name for p in plant.iterdir() if p.name.startswith(".node-")] == []


def test_edits_find_the_field_of_the_right_dataset() -> None:
    text = '[[datasets]]\nname = "a"\n[[datasets.fields]]\nname = "x"\n[[datasets]]\nname = "b"\n' \
           '[[datasets.fields]]\nname = "x"\ntype = "text"  # kept\n[[accept]]\nbuyer = "*"\n'  # fmt: skip
    edited = edit_fields(text, "b", {"x": FieldEdit(values={"tag": '"free_text"'}, notes=["why"])})
    assert edited.endswith(
        '[[datasets.fields]]\nname = "x"\n# proposal: why\ntype = "text"  # kept\ntag = "free_text"\n'
        '[[accept]]\nbuyer = "*"\n'
    )
    assert edited.startswith('[[datasets]]\nname = "a"\n[[datasets.fields]]\nname = "x"\n[[datasets]]')
    with pytest.raises(EditError, match="no field table for y"):
        edit_fields(text, "a", {"y": FieldEdit()})


@pytest.mark.parametrize(
    ("line", "key", "message"),
    [
        ('tag = "colour"', "datasets[0].fields[0].tag", "not a tag of the vocabulary"),
        ('grade = "secret"', "datasets[0].fields[0].grade", "not a grade"),
        ('proposed = ["unit"]', "datasets[0].fields[0].proposed", "expected a list of keys"),
    ],
)
def test_bad_terms_in_node_toml_name_their_key(tmp_path: Path, line: str, key: str, message: str) -> None:
    text = f'node_name = "n"\nparticipant_id = "p"\n[[datasets]]\nname = "d"\npaths = ["d.csv"]\n' \
           f'[[datasets.fields]]\nname = "f"\ntype = "text"\n{line}\n'  # fmt: skip
    (tmp_path / "node.toml").write_text(text, encoding="utf-8")
    with pytest.raises(ConfigError, match=message) as error:
        load_config(tmp_path / "node.toml")
    assert error.value.key == key
