"""Results drawn: SVG bars measured against numpy's counts, PNG size, terminal bars, ``dataspace job result``.

Results come from the real ``contracts.analysis.finalize`` over known rows (see ``test_sdk``); the CLI runs
against the real gateway in process.
"""

from __future__ import annotations

import json
import re
import struct
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from rich.console import Console
from rich.json import JSON
from sqlalchemy import Engine
from typer.testing import CliRunner

from coordinator.client import cli, cli_common
from coordinator.client.gateway import GatewayClient
from coordinator.client.plots import BAR_WIDTH, result_bars, result_view, save_plot
from tests.coordinator.api.conftest import Gateway, open_gateway
from tests.coordinator.audit.test_api import AppTransport
from tests.coordinator.client.test_sdk import EDGES, SHIFTS, plant_rows, released

SVG = "{http://www.w3.org/2000/svg}"
HISTOGRAM = {"kind": "histogram", "field": "temp", "bins": EDGES, "group_by": "shift"}
LABELS = ["[1450, 1500)", "[1500, 1600)", "[1600, 1700)", "[1700, 1750]"]


def counts_of(rows: dict[str, list[Any]]) -> dict[str, np.ndarray]:
    temp, shift = np.array(rows["temp"]), np.array(rows["shift"])
    return {name: np.histogram(temp[shift == name], bins=EDGES)[0] for name in SHIFTS}


def bar_heights(svg: Path, prefix: str) -> dict[str, float]:
    """Height of every bar whose id starts with ``prefix``, from its rectangle's path in the SVG."""
    heights = {}
    for group in ET.parse(svg).getroot().iter(f"{SVG}g"):
        gid = group.get("id", "")
        if gid.startswith(prefix):
            path = group.find(f"{SVG}path")
            assert path is not None
            ys = [float(y) for y in re.findall(r"[ML] [-\d.]+ ([-\d.]+)", path.get("d", ""))]
            heights[gid] = max(ys) - min(ys)
    return heights


def rendered(result: dict[str, Any], width: int = 100) -> list[str]:
    console = Console(width=width, record=True, color_system=None)
    console.print(result_bars(result))
    return console.export_text().splitlines()


def test_the_svg_has_one_bar_per_released_bin_in_proportion_to_its_count(tmp_path: Path) -> None:
    rows = plant_rows()
    result = released(HISTOGRAM, rows, thin=(1, 2))  # shift B's second bin is withheld
    svg = save_plot(result, tmp_path / "temp.svg")
    heights = bar_heights(svg, "bin-")
    counts = counts_of(rows)
    expected = {f"bin-{g}-{i}": counts[name][i] for g, name in enumerate(SHIFTS) for i in range(4)}
    del expected["bin-1-1"]
    assert set(heights) == set(expected)
    per_row = [heights[gid] / count for gid, count in expected.items()]
    assert per_row == pytest.approx([per_row[0]] * len(per_row), rel=1e-4)  # one scale for every panel
    assert set(bar_heights(svg, "withheld-")) == {"withheld-1-1"}
    assert "withheld" in svg.read_text()


def test_grouped_means_are_one_bar_each_and_a_withheld_group_none(tmp_path: Path) -> None:
    rows = plant_rows()
    result = released({"kind": "mean", "field": "temp", "group_by": "shift"}, rows, thin=(2, 0))
    heights = bar_heights(save_plot(result, tmp_path / "means.svg"), "group-")
    temp, shift = np.array(rows["temp"]), np.array(rows["shift"])
    means = [temp[shift == name].mean() for name in SHIFTS[:2]]
    assert sorted(heights) == ["group-0", "group-1"]
    assert heights["group-0"] / heights["group-1"] == pytest.approx(means[0] / means[1], rel=1e-4)


@pytest.mark.parametrize("size", [(640, 360), (1200, 800)])
def test_a_png_has_the_signature_and_the_size_asked_for(tmp_path: Path, size: tuple[int, int]) -> None:
    for spec in (HISTOGRAM, {"kind": "linear_regression", "features": ["temp"], "target": "energy"}):
        png = save_plot(released(spec, plant_rows()), tmp_path / "figure.PNG", size=size).read_bytes()
        assert png[:8] == b"\x89PNG\r\n\x1a\n" and png[12:16] == b"IHDR"
        assert struct.unpack(">II", png[16:24]) == size


def test_what_cannot_be_drawn_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match=r"\.png or \.svg"):
        save_plot(released(HISTOGRAM, plant_rows()), tmp_path / "figure.jpg")
    with pytest.raises(ValueError, match="extract"):
        save_plot({"kind": "extract", "columns": ["shift"], "rows": []}, tmp_path / "rows.svg")
    assert not list(tmp_path.iterdir())


def test_terminal_bars_label_every_bin_and_mark_the_withheld_one() -> None:
    rows = plant_rows()
    lines = rendered(released(HISTOGRAM, rows, thin=(1, 2)))
    counts = counts_of(rows)
    for g, name in enumerate(SHIFTS):
        start = next(k for k, line in enumerate(lines) if line.strip() == f"shift = {name}")
        for i, label in enumerate(LABELS):
            line = next(line for line in lines[start:] if line.strip().startswith(label))
            if (g, i) == (1, 1):
                assert "withheld" in line and line.rstrip().endswith("—")
            else:
                assert line.rstrip().endswith(f" {counts[name][i]}")
                largest = max(c.max() for c in counts.values())  # one scale for every group
                length = counts[name][i] / largest * BAR_WIDTH  # in characters
                assert abs(line.count("█") - length) < 1
    assert sum("withheld: fewer than 3 factories" in line for line in lines) == 1


def test_terminal_bars_of_noised_groups_show_plus_minus_the_noise() -> None:
    result = released({"kind": "mean", "field": "temp", "group_by": "shift", "epsilon": 1.0}, plant_rows(),
                      noised=True, thin=(2, 0))  # fmt: skip
    lines = rendered(result)
    assert any("ε = 1 at δ = 1e-06" in line for line in lines)
    for group in result["groups"][:2]:
        line = next(line for line in lines if line.startswith(f" {group['group']} "))
        assert f"±{group['error']['mean']:.3g}" in line and f" {group['n']}" in line
    assert "withheld" in next(line for line in lines if line.startswith(" C "))


def test_only_histograms_and_grouped_results_are_drawn() -> None:
    grouped = {"id": "job_1", "contributors": 3, "result": released(HISTOGRAM, plant_rows())}
    single = {
        "id": "job_1",
        "contributors": 3,
        "result": released({"kind": "mean", "field": "temp"}, plant_rows()),
    }
    assert not isinstance(result_view(grouped), JSON)
    assert isinstance(result_view(single), JSON)


# -- `dataspace job result` against the real gateway ------------------------------------------------------
@pytest.fixture
def gateway(engine: Engine, tmp_path: Path) -> Iterator[Gateway]:
    yield open_gateway(engine, tmp_path / "coordinator")


def finished_histogram(gateway: Gateway) -> tuple[str, dict[str, Any]]:
    body = {"dataset": "plant", **HISTOGRAM, "contract_id": gateway.contract_id}
    job = gateway.call("buyer", "POST", "/api/v1/jobs", json=body).json()
    result = released(job["spec"], plant_rows(), thin=(1, 2))
    gateway.finish(job["id"], result)
    return str(job["id"]), result


def run_cli(gateway: Gateway, monkeypatch: pytest.MonkeyPatch, *args: str) -> tuple[int, str, str]:
    def session(*_: object, **__: object) -> GatewayClient:
        ca = gateway.context.keys.ca.cert_pem
        transport = AppTransport(gateway.app)
        return GatewayClient("https://testserver", gateway.tokens["buyer"], ca_pem=ca, transport=transport)

    monkeypatch.setattr(cli_common, "client_for", session)
    outcome = CliRunner().invoke(cli.app, ["job", "result", *args, "--url", "https://testserver"])
    return outcome.exit_code, outcome.stdout, outcome.stderr


def test_job_result_draws_bars_saves_a_figure_and_keeps_its_json(
    gateway: Gateway, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    job_id, result = finished_histogram(gateway)
    svg = tmp_path / "result.svg"
    code, out, err = run_cli(gateway, monkeypatch, job_id, "--plot", str(svg))
    assert code == 0, err
    assert all(label in out for label in LABELS) and "withheld" in out and "shift = B" in out
    assert "drew the result into" in err
    assert len(bar_heights(svg, "bin-")) == 11
    code, out, _ = run_cli(gateway, monkeypatch, job_id, "--json")
    assert code == 0 and json.loads(out) == {"id": job_id, "contributors": 3, "result": result}
    code, _, err = run_cli(gateway, monkeypatch, job_id, "--plot", str(tmp_path / "result.gif"))
    assert code == 2 and ".svg or .png" in err
