"""``dataspace-node check`` on each kind of broken file, against counts tallied while writing the file."""

from __future__ import annotations

import json
import random
from dataclasses import dataclass
from pathlib import Path

import duckdb
import pytest
from typer.testing import CliRunner

from contracts.schema import DatasetSchema
from node.cli import app
from node.config import DatasetConfig, render_config
from node.datacheck import FileReport, check_dataset, check_file, render

SCHEMA = DatasetSchema.model_validate(
    {
        "name": "plant",
        "fields": [
            {"name": "ts", "type": "timestamp"},
            {"name": "shift", "type": "category", "categories": ["A", "B", "C"]},
            {"name": "temp", "type": "number", "min": 1400, "max": 1800},
            {"name": "cycle", "type": "integer", "min": 10, "max": 120},
            {"name": "operator", "type": "text", "personal": True},
        ],
    }
)
HEADER = ["ts", "shift", "temp", "cycle", "operator", "note"]  # "note" is not declared
# Per field and kind of cell, the texts a cell of that kind is drawn from.
CELLS: dict[str, dict[str, list[str]]] = {
    "ts": {"valid": ["2024-01-01 06:00:00", "2024-02-29T23:59:59"], "missing": [""],
           "invalid": ["not a time", "2024-13-01 00:00:00"]},
    "shift": {"valid": ["A", "B", "C"], "missing": [""], "invalid": ["D", "a"]},
    "temp": {"valid": ["1400", "1550.5", "1800"], "oob": ["1900", "1300.25"], "missing": [""],
             "invalid": ["oops", "nan", "inf"]},
    "cycle": {"valid": ["10", "65", "30.0"], "oob": ["500", "5"], "missing": [""], "invalid": ["12.5", "x"]},
    "operator": {"valid": ["王伟", "李娜", "Zhang Min"], "missing": [""]},
}  # fmt: skip
ROWS = 240


@dataclass
class Row:
    cells: list[str]
    kinds: dict[str, str]


def make_rows(seed: int = 7, n: int = ROWS) -> list[Row]:
    rng = random.Random(seed)
    rows = []
    for _ in range(n):
        kinds = {name: rng.choice(sorted(CELLS[name])) for name in CELLS}
        cells = [rng.choice(CELLS[name][kinds[name]]) for name in CELLS] + [f"n{rng.randrange(100)}"]
        rows.append(Row(cells, kinds))
    return rows


def encode(rows: list[Row], header: list[str] = HEADER) -> bytes:
    lines = [",".join(header)] + [",".join(row.cells) for row in rows]
    return ("\n".join(lines) + "\n").encode("utf-8")


def tally(rows: list[Row]) -> dict[str, tuple[int, int, int | None]]:
    """Per field (missing, invalid, out of bounds), counted from the kind each cell was written as."""
    counts = {}
    for name in CELLS:
        kinds = [row.kinds[name] for row in rows]
        oob = kinds.count("oob") if "oob" in CELLS[name] else None
        counts[name] = (kinds.count("missing"), kinds.count("invalid"), oob)
    return counts


def counted(report: FileReport) -> dict[str, tuple[int, int, int | None]]:
    return {f.name: (f.missing, f.invalid, f.out_of_bounds) for f in report.fields}


def codes(report: FileReport) -> list[str]:
    return [p.code for p in report.problems]


@pytest.fixture
def rows() -> list[Row]:
    return make_rows()


def test_every_kind_of_cell_is_counted(tmp_path: Path, rows: list[Row]) -> None:
    path = tmp_path / "plant.csv"
    path.write_bytes(encode(rows))
    report = check_file(path, SCHEMA, "csv")
    assert report.usable and report.problems == [] and report.warnings == []
    assert report.rows == ROWS and report.size == len(encode(rows))
    assert counted(report) == tally(rows)
    # every kind of cell occurs
    assert all(0 < tally(rows)[name][1] < ROWS for name in ("ts", "shift", "temp", "cycle"))
    assert all(0 < (tally(rows)[name][2] or 0) < ROWS for name in ("temp", "cycle"))
    assert report.extra_columns == ("note",) and report.malformed_lines == report.invalid_utf8_lines == 0
    assert report.checked is not None and report.checked.size == report.size


def test_shares_in_json_and_text(tmp_path: Path, rows: list[Row]) -> None:
    path = tmp_path / "plant.csv"
    path.write_bytes(encode(rows))
    report = check_file(path, SCHEMA, "csv")
    temp = report.to_json()["fields"]["temp"]
    missing, invalid, oob = tally(rows)["temp"]
    assert temp == {"type": "number", "missing": missing, "invalid": invalid, "out_of_bounds": oob,
                    "missing_share": missing / ROWS, "invalid_share": invalid / ROWS,
                    "out_of_bounds_share": oob / ROWS}  # fmt: skip
    text = render([check_dataset(DatasetConfig(name="plant", paths=[path], format="csv", schema=SCHEMA))])
    assert text.startswith("plant: usable")
    assert f"{invalid} ({invalid / ROWS:.2%})" in text and "never read): note" in text


def test_malformed_lines(tmp_path: Path, rows: list[Row]) -> None:
    extra, short = [17, 120], [64]  # lines with a cell too many, and one cut short
    lines = encode(rows).split(b"\n")
    for i in extra:
        lines[i + 1] += b",surplus"
    for i in short:
        lines[i + 1] = lines[i + 1].rsplit(b",", 2)[0]
    path = tmp_path / "plant.csv"
    path.write_bytes(b"\n".join(lines))
    report = check_file(path, SCHEMA, "csv")
    bad = sorted(extra + short)
    assert not report.usable and codes(report) == ["data_unreadable"]
    assert report.malformed_lines == len(bad) and report.first_malformed_line == bad[0] + 2
    kept = [row for i, row in enumerate(rows) if i not in bad]
    assert report.rows == len(kept) and counted(report) == tally(kept)


def test_an_open_quote_is_malformed(tmp_path: Path, rows: list[Row]) -> None:
    lines = encode(rows).split(b"\n")
    lines[100] = b'"' + lines[100]
    path = tmp_path / "plant.csv"
    path.write_bytes(b"\n".join(lines))
    report = check_file(path, SCHEMA, "csv")
    assert not report.usable and report.malformed_lines >= 1 and report.first_malformed_line == 101


def test_invalid_utf8(tmp_path: Path, rows: list[Row]) -> None:
    gbk = [3, 90, 91, 200]  # lines whose text was written in GBK, as a Chinese desktop export does
    lines = encode(rows).split(b"\n")
    for i in gbk:
        rows[i].cells[4] = "王伟"
        lines[i + 1] = ",".join(rows[i].cells).encode("gbk")
    path = tmp_path / "plant.csv"
    path.write_bytes(b"\n".join(lines))
    report = check_file(path, SCHEMA, "csv")
    assert not report.usable and codes(report) == ["data_unreadable"]
    assert report.invalid_utf8_lines == len(gbk) and report.first_invalid_utf8_line == gbk[0] + 2
    assert report.malformed_lines == 0
    kept = [row for i, row in enumerate(rows) if i not in gbk]
    assert report.rows == len(kept) and counted(report) == tally(kept)


def test_empty_file(tmp_path: Path) -> None:
    path = tmp_path / "plant.csv"
    path.write_bytes(b"")
    report = check_file(path, SCHEMA, "csv")
    assert not report.usable and codes(report) == ["data_unreadable"] and report.rows is None
    assert report.problems[0].message == "the file is empty" and report.size == 0


def test_header_only_is_usable_with_a_warning(tmp_path: Path) -> None:
    path = tmp_path / "plant.csv"
    path.write_bytes(encode([]))
    report = check_file(path, SCHEMA, "csv")
    assert report.usable and report.rows == 0 and report.warnings == ["the file has no rows"]
    assert counted(report) == {name: (0, 0, 0 if "oob" in CELLS[name] else None) for name in CELLS}


def test_truncated_in_the_middle_of_a_line(tmp_path: Path, rows: list[Row]) -> None:
    data = encode(rows)
    cut = data.index(b"\n", len(data) // 2) + 5  # five bytes into a line: too few cells
    path = tmp_path / "plant.csv"
    path.write_bytes(data[:cut])
    whole = data[:cut].count(b"\n") - 1  # complete data lines before the cut
    report = check_file(path, SCHEMA, "csv")
    assert not report.usable and codes(report) == ["data_unreadable", "data_unreadable"]
    assert "no line break" in report.problems[0].message
    assert report.malformed_lines == 1 and report.first_malformed_line == whole + 2
    assert report.rows == whole and counted(report) == tally(rows[:whole])


def test_a_missing_final_line_break_is_enough(tmp_path: Path, rows: list[Row]) -> None:
    path = tmp_path / "plant.csv"
    path.write_bytes(encode(rows)[:-1])
    report = check_file(path, SCHEMA, "csv")
    assert not report.usable and codes(report) == ["data_unreadable"] and report.rows == ROWS


def test_renamed_column(tmp_path: Path, rows: list[Row]) -> None:
    path = tmp_path / "plant.csv"
    path.write_bytes(encode(rows, [*HEADER[:2], "temperature", *HEADER[3:]]))
    report = check_file(path, SCHEMA, "csv")
    assert not report.usable and codes(report) == ["schema_mismatch"]
    assert "'temperature'" in report.problems[0].message
    assert report.missing_fields == ("temp",) and report.extra_columns == ("temperature", "note")
    assert report.rows == ROWS and counted(report) == {k: v for k, v in tally(rows).items() if k != "temp"}


def test_repeated_field(tmp_path: Path, rows: list[Row]) -> None:
    path = tmp_path / "plant.csv"
    path.write_bytes(encode(rows, [*HEADER[:5], "shift"]))
    report = check_file(path, SCHEMA, "csv")
    assert not report.usable and codes(report) == ["schema_mismatch"]
    assert report.duplicated_fields == ("shift",) and report.fields == []


def test_missing_file(tmp_path: Path) -> None:
    report = check_file(tmp_path / "gone.csv", SCHEMA, "csv")
    assert not report.usable and codes(report) == ["data_missing"] and report.size is None


def test_a_directory_is_not_a_file(tmp_path: Path) -> None:
    assert codes(check_file(tmp_path, SCHEMA, "csv")) == ["data_missing"]


@pytest.fixture
def parquet(tmp_path: Path, rows: list[Row]) -> Path:
    source, target = tmp_path / "plant.csv", tmp_path / "plant.parquet"
    source.write_bytes(encode(rows))
    text = f"read_csv('{source}', all_varchar = true)"
    duckdb.sql(f"COPY (SELECT * FROM {text}) TO '{target}' (FORMAT parquet)")
    return target


def test_parquet_counts_as_csv(parquet: Path, rows: list[Row]) -> None:
    report = check_file(parquet, SCHEMA, "parquet")
    assert report.usable and report.rows == ROWS and counted(report) == tally(rows)


def test_truncated_parquet(parquet: Path) -> None:
    data = parquet.read_bytes()
    parquet.write_bytes(data[: len(data) // 2])
    report = check_file(parquet, SCHEMA, "parquet")
    assert not report.usable and codes(report) == ["data_unreadable"]


def test_one_bad_file_makes_the_dataset_unusable(tmp_path: Path, rows: list[Row]) -> None:
    good, bad = tmp_path / "a.csv", tmp_path / "b.csv"
    good.write_bytes(encode(rows))
    bad.write_bytes(b"")
    report = check_dataset(DatasetConfig(name="plant", paths=[good, bad], format="csv", schema=SCHEMA))
    assert not report.usable and [f.usable for f in report.files] == [True, False]
    assert [p.code for p in report.problems] == ["data_unreadable"]


def test_cli_exit_codes_and_json(tmp_path: Path, rows: list[Row]) -> None:
    data = tmp_path / "plant.csv"
    data.write_bytes(encode(rows))
    config = render_config(
        node_name="n", participant_id="91310000MA1FL8XQ30", datasets=[("plant", data, SCHEMA)], accept=[]
    )
    (tmp_path / "node.toml").write_text(config, encoding="utf-8")
    runner = CliRunner()
    ok = runner.invoke(app, ["check", "--dir", str(tmp_path), "--json"])
    assert ok.exit_code == 0, ok.output
    body = json.loads(ok.stdout)
    assert body["usable"] and body["datasets"][0]["files"][0]["rows"] == ROWS
    data.write_bytes(encode(rows, [*HEADER[:2], "temperature", *HEADER[3:]]))
    broken = runner.invoke(app, ["check", "plant", "--dir", str(tmp_path)])
    assert broken.exit_code == 1
    assert "plant: NOT USABLE" in broken.stdout and "schema_mismatch: declared field temp" in broken.stdout
    unknown = runner.invoke(app, ["check", "nothing", "--dir", str(tmp_path)])
    assert unknown.exit_code == 2
