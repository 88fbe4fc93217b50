"""A job's result drawn for people: bars in the terminal (rich), figures saved as PNG or SVG (matplotlib).

Both read the result through ``coordinator.client.results``; a withheld cell is drawn as withheld, never as
zero, and ± is the standard deviation of the privacy noise the result states.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rich.console import Group, RenderableType
from rich.json import JSON
from rich.table import Table
from rich.text import Text

from coordinator.client.results import Z95, Figure, figures, is_grouped

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure as Drawing

PLOT_FORMATS = {".png": "png", ".svg": "svg"}
BAR_WIDTH = 40
_EIGHTHS = " ▏▎▍▌▋▊▉"  # partial blocks, so a bar's length resolves an eighth of a character
# The figure a chart of grouped statistics draws for each kind (another kind: its last figure).
_MAIN_FIGURE = {"count": "n", "sum": "sum", "mean": "mean", "variance": "variance"}
_UNCHARTED = ("linear_regression", "extract")


def has_bars(result: dict[str, Any]) -> bool:
    """Histograms and grouped statistics are drawn as bars; anything else reads better as JSON."""
    kind = result.get("kind")
    return kind == "histogram" or (is_grouped(result) and kind not in _UNCHARTED)


def result_view(released: dict[str, Any]) -> RenderableType:
    """What ``dataspace job result`` prints: bars where ``has_bars``, else the gateway's answer as JSON."""
    result = released.get("result")
    if isinstance(result, dict) and has_bars(result):
        return result_bars(result)
    return JSON.from_data(released, default=str)


def result_bars(result: dict[str, Any], width: int = BAR_WIDTH) -> RenderableType:
    """Horizontal bars of a histogram (one table per group) or of grouped statistics (one table)."""
    cells = figures(result)
    parts: list[RenderableType] = [
        Text(title(result), style="bold"),
        Text(_privacy_line(result), style="dim"),
    ]
    if result.get("kind") == "histogram":
        # One scale for every group's bars, so groups compare by eye (the rows outside are not drawn).
        scale = max(
            (abs(f.value) for f in cells if f.value is not None and f.bin_low is not None), default=0.0
        )
        for name in _groups(cells):
            group = [f for f in cells if f.group == name]
            heading = f"{result.get('group_by')} = {name}" if is_grouped(result) else None
            bins = [f for f in group if f.figure != "out_of_range"]
            outside = next(f for f in group if f.figure == "out_of_range")
            caption = f"rows outside the edges: {_cell_text(outside)}"
            parts.append(_bar_table(heading, bins, width, scale, caption))
    else:
        main = _main_figure(str(result.get("kind")), cells)
        counts = {f.group: f.value for f in cells if f.figure == "n"} if main != "n" else None
        chosen = [f for f in cells if f.figure == main]
        scale = max((abs(f.value) for f in chosen if f.value is not None), default=0.0)
        parts.append(_bar_table(f"{main} by {result.get('group_by')}", chosen, width, scale, None, counts))
    return Group(*parts)


def save_plot(
    result: dict[str, Any], path: str | Path, *, size: tuple[int, int] = (960, 540), dpi: int = 100
) -> Path:
    """Draw ``result`` into ``path`` as PNG or SVG (by its suffix), ``size`` in pixels; return the path.

    Histograms draw one panel per group, other statistics one bar per group, a regression its coefficients
    with 95 % intervals. An extract, or a suffix other than .png or .svg, raises ``ValueError``.
    """
    target = Path(path)
    fmt = PLOT_FORMATS.get(target.suffix.lower())
    if fmt is None:
        raise ValueError(f"cannot tell the format of {target.name}: name a .png or .svg file")
    cells = figures(result)
    # The figure is built on the Agg canvas directly: pyplot's global backend and state are left alone.
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure as Drawing

    drawing = Drawing(figsize=(size[0] / dpi, size[1] / dpi), dpi=dpi, layout="constrained")
    FigureCanvasAgg(drawing)
    kind = result.get("kind")
    if kind == "histogram":
        _draw_histograms(drawing, result, cells)
    elif kind == "linear_regression":
        _draw_coefficients(drawing, cells)
    else:
        _draw_groups(drawing, result, cells)
    drawing.suptitle(title(result) + "\n" + _privacy_line(result), fontsize=10)
    metadata = {"Date": None} if fmt == "svg" else None  # the same result draws the same file
    drawing.savefig(target, format=fmt, dpi=dpi, metadata=metadata)
    return target


def title(result: dict[str, Any]) -> str:
    """E.g. ``mean of temp (°C) by shift · dataset plant · 3 factories``."""
    kind = str(result.get("kind", "result")).replace("_", " ")
    what = kind
    if result.get("field"):
        unit = f" ({result['unit']})" if result.get("unit") else ""
        what = f"{kind} of {result['field']}{unit}"
    elif result.get("target"):
        what = f"{kind} of {result['target']} on {', '.join(result.get('features', []))}"
    if result.get("group_by"):
        what += f" by {result['group_by']}"
    return f"{what} · dataset {result.get('dataset')} · {result.get('contributors')} factories"


def _privacy_line(result: dict[str, Any]) -> str:
    privacy = result.get("privacy")
    noise = "exact figures (no privacy noise)"
    if privacy:
        noise = (f"ε = {privacy['epsilon']:g} at δ = {privacy['delta']:g}, {privacy['mechanism']} noise "
                 f"({privacy['mode']}); ± is its standard deviation")  # fmt: skip
    bound = result.get("fixed_point_max_abs_error")
    return noise + (f"; fixed-point rounding ≤ {bound:.2g} per summed term" if bound is not None else "")


def _groups(cells: Sequence[Figure]) -> list[str | None]:
    return list(dict.fromkeys(f.group for f in cells))


def _main_figure(kind: str, cells: Sequence[Figure]) -> str:
    names = list(dict.fromkeys(f.figure for f in cells))
    return _MAIN_FIGURE.get(kind) or next((n for n in reversed(names) if n != "n"), "n")


def _number(value: float | None) -> str:
    if value is None:
        return "—"
    return str(int(value)) if value.is_integer() and abs(value) < 1e15 else f"{value:.6g}"


def _cell_text(cell: Figure) -> str:
    return "withheld" if cell.withheld else _number(cell.value)


def _bar(value: float, scale: float, width: int) -> Text:
    eighths = round(abs(value) / scale * width * 8) if scale > 0 else 0
    full, part = divmod(eighths, 8)
    return Text("█" * full + (_EIGHTHS[part] if part else ""), style="red" if value < 0 else "cyan")


def _bar_table(
    heading: str | None,
    cells: Sequence[Figure],
    width: int,
    scale: float,
    caption: str | None,
    counts: dict[str | None, float | None] | None = None,
) -> Group:
    """One line per cell: its label, a bar (``scale`` is a full one), the value, ± its noise.

    The reasons for withholding go under the table once each, not on every withheld line.
    """
    noised = any(f.noise_std is not None for f in cells)
    reasons = list(dict.fromkeys(f"withheld: {f.reason}" for f in cells if f.withheld and f.reason))
    notes = Text("\n".join([*([caption] if caption else []), *reasons]), style="dim")
    table = Table(title=heading, title_justify="left", box=None)
    table.add_column("")
    table.add_column("", width=width, no_wrap=True)
    table.add_column("value", justify="right")
    if noised:
        table.add_column("±", justify="right")
    if counts is not None:
        table.add_column("n", justify="right")
    for cell in cells:
        label = cell.figure if cell.bin_low is not None else str(cell.group)
        bar = Text("withheld", style="yellow") if cell.withheld else _bar(cell.value or 0.0, scale, width)
        row: list[RenderableType] = [label, bar, "—" if cell.withheld else _number(cell.value)]
        if noised:
            row.append("" if cell.noise_std is None else f"±{cell.noise_std:.3g}")
        if counts is not None:
            row.append(_number(counts.get(cell.group)))
        table.add_row(*row)
    return Group(table, notes, Text(""))


# -- matplotlib ---------------------------------------------------------------------------------------
def _mark_withheld(ax: Axes, low: float, high: float, gid: str) -> None:
    """A hatched, empty span where a withheld cell would be: visibly not a zero."""
    span = ax.axvspan(low, high, fill=False, hatch="//", edgecolor="0.65", linewidth=0)
    span.set_gid(gid)
    ax.text((low + high) / 2, 0.5, "withheld", transform=ax.get_xaxis_transform(), rotation=90,
            ha="center", va="center", color="0.35", fontsize=9)  # fmt: skip


def _draw_histograms(drawing: Drawing, result: dict[str, Any], cells: Sequence[Figure]) -> None:
    groups = _groups(cells)
    # One scale for every panel, so groups compare by eye.
    axes = drawing.subplots(len(groups), 1, sharex=True, sharey=True, squeeze=False)[:, 0]
    for g, (ax, name) in enumerate(zip(axes, groups, strict=True)):
        group = [f for f in cells if f.group == name]
        for i, cell in enumerate(f for f in group if f.bin_low is not None):
            low, high = cell.bin_low or 0.0, cell.bin_high or 0.0
            if cell.withheld or cell.value is None:
                _mark_withheld(ax, low, high, f"withheld-{g}-{i}")
                continue
            bars = ax.bar(low, cell.value, width=high - low, align="edge", yerr=cell.noise_std,
                          capsize=3, color="tab:blue", edgecolor="white")  # fmt: skip
            bars.patches[0].set_gid(f"bin-{g}-{i}")
        outside = next(f for f in group if f.figure == "out_of_range")
        ax.set_title(f"outside the edges: {_cell_text(outside)}", loc="right", fontsize=8, color="0.35")
        ax.set_ylabel("rows")
        if is_grouped(result):
            ax.set_title(f"{result.get('group_by')} = {name}", fontsize=9, loc="left")
    unit = f" ({result['unit']})" if result.get("unit") else ""
    axes[-1].set_xlabel(f"{result.get('field')}{unit}")


def _draw_groups(drawing: Drawing, result: dict[str, Any], cells: Sequence[Figure]) -> None:
    main = _main_figure(str(result.get("kind")), cells)
    chosen = [f for f in cells if f.figure == main]
    ax = drawing.subplots()
    for i, cell in enumerate(chosen):
        if cell.withheld:
            _mark_withheld(ax, i - 0.4, i + 0.4, f"withheld-{i}")
        elif cell.value is not None:
            bars = ax.bar(i, cell.value, width=0.8, yerr=cell.noise_std, capsize=3, color="tab:blue")
            bars.patches[0].set_gid(f"group-{i}")
    ax.set_xticks(range(len(chosen)), ["all" if f.group is None else str(f.group) for f in chosen])
    ax.axhline(0, color="0.5", linewidth=0.8)
    ax.set_ylabel(f"{main} of {result['field']}" if result.get("field") else main)
    if result.get("group_by"):
        ax.set_xlabel(str(result["group_by"]))


def _draw_coefficients(drawing: Drawing, cells: Sequence[Figure]) -> None:
    """One row per coefficient, each on its own scale: an intercept would flatten the slopes next to it."""
    coefficients = [f for f in cells if f.figure.startswith("coefficient:") and f.value is not None]
    if not coefficients:
        raise ValueError("the regression was withheld: there is nothing to draw")
    axes = drawing.subplots(len(coefficients), 1, squeeze=False)[:, 0]
    for ax, cell in zip(axes, coefficients, strict=True):
        span = Z95 * (cell.error or 0.0)
        ax.errorbar([cell.value or 0.0], [0], xerr=[span], fmt="o", capsize=4, color="tab:blue")
        ax.axvline(0, color="0.5", linewidth=0.8)
        ax.set_yticks([0], [cell.figure.removeprefix("coefficient:")])
    axes[-1].set_xlabel("coefficient with its 95 % interval (sampling and noise)")
