"""Render bench/REPORT.md from the benchmarks' results JSON: one table of every figure, the machine, plots.

Reads ``<results>/<name>.json`` for each benchmark of the registry (``common.write_results`` wrote them)
and ``<results>/suite_run.json`` if the suite left one; writes ``<out>/REPORT.md`` and the PNGs under
``<out>/plots/``. A benchmark without results is listed as not run, with a link to its markdown report:
no figure is ever made up here. ``bench/suite.py`` calls :func:`write_report_md` after a run;

    .venv/bin/python bench/report.py [--results bench/reports --out bench]

re-renders from what is there (matplotlib draws the plots, with the Agg backend: no display needed).
"""

from __future__ import annotations

import argparse
import json
import math
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from common import BENCH, REPORTS, md_table, median, percentile
from registry import BENCHMARKS, Panel, Plot, plots

SUITE_RUN = "suite_run.json"  # what bench/suite.py ran: each benchmark's exit code, wall time, log
PLOTS_DIR = "plots"


@dataclass(frozen=True)
class Rendered:
    """What :func:`write_report_md` wrote."""

    report: Path
    plots: tuple[Path, ...]  # the PNGs drawn
    missing: tuple[str, ...]  # benchmarks with no results


def load_results(results: Path) -> dict[str, dict[str, Any]]:
    """The results JSON of every registered benchmark that has one, by benchmark name."""
    found = {}
    for bench in BENCHMARKS:
        path = results / f"{bench.name}.json"
        if path.is_file():
            found[bench.name] = json.loads(path.read_text())
    return found


def fmt(value: float | None, unit: str) -> str:
    """A figure's value with its unit, in the precision its size deserves."""
    if value is None or not math.isfinite(value):
        return "–"
    if isinstance(value, int):  # a count: files, jars
        return f"{value:,} {unit}"
    if unit == "×":
        return f"{value:.2f}×"
    if unit == "%":
        return f"{value:.0f}%"
    digits = 0 if abs(value) >= 100 else 1 if abs(value) >= 10 else 2
    return f"{value:,.{digits}f} {unit}"


def met_cell(fig: dict[str, Any], quick: bool) -> str:
    if fig.get("met") is None:
        return "not judged (quick)" if quick and fig.get("target") else "–"
    return "yes" if fig["met"] else "**no**"


def figure_rows(results: dict[str, dict[str, Any]], results_dir: Path, out: Path) -> list[tuple[str, ...]]:
    """One row per figure, the benchmarks in the registry's order; the command on a benchmark's first row."""
    rows = []
    for bench in BENCHMARKS:
        data = results.get(bench.name)
        if data is None:
            report = Path(os.path.relpath(results_dir / f"{bench.name}.md", out))
            rows.append((bench.name, f"not run since the suite existed: see [{report}]({report})", *[""] * 6))
            continue
        label = f"{bench.name} (quick)" if data["quick"] else bench.name
        for i, fig in enumerate(data["figures"] or [{"name": "no figures", "value": None, "unit": ""}]):
            note = f" ({fig['note']})" if fig.get("note") else ""
            value = fmt(fig["value"], fig["unit"])
            rows.append(
                (
                    label if i == 0 else "",
                    fig["name"] + note,
                    f"**{value}**" if fig.get("target") and value != "–" else value,
                    fmt(fig.get("min"), fig["unit"]),
                    fig.get("target") or "–",
                    met_cell(fig, data["quick"]),
                    data["finished_at"].replace("T", " ").removesuffix("Z") if i == 0 else "",
                    f"`{data['command']}`" if i == 0 else "",
                )
            )  # fmt: skip
    return rows


def machine_lines(results: dict[str, dict[str, Any]]) -> list[str]:
    """The machine (once if every run saw the same one) and the load averages each run noted."""
    machines = {json.dumps(d["machine"], sort_keys=True): d["machine"] for d in results.values()}
    lines = ["## Machine", ""]
    for machine in machines.values():
        lines += [*md_table(["", ""], machine.items()), ""]
    if len(machines) > 1:
        lines += [
            "(The runs were made on different machines or stacks: each table above is one of them.)",
            "",
        ]
    lines += [
        "The machine is shared with other work; the load averages (1 / 5 / 15 min, on the machine's "
        "cores) each run noted:",
        "",
        *md_table(
            ["benchmark", "load averages during the run"],
            [(name, "; ".join(d["loads"])) for name, d in results.items()],
        ),
        "",
    ]
    return lines


def suite_lines(results_dir: Path) -> list[str]:
    """The last suite run's per-benchmark exit code and times, if the suite left its record."""
    path = results_dir / SUITE_RUN
    if not path.is_file():
        return []
    run = json.loads(path.read_text())
    rows = [
        (
            r["name"], "0" if r["returncode"] == 0 else f"**{r['returncode']}**", f"{r['seconds']:,.0f}",
            f"{r['cpu_seconds']:,.0f}", "yes" if r["results"] else "**no**", f"`{r['command']}`",
        )
        for r in run["runs"]
    ]  # fmt: skip
    total = sum(r["seconds"] for r in run["runs"])
    return [
        "## The suite run",
        "",
        f"`{run['command']}`, {'quick' if run['quick'] else 'full'}, started {run['started_at']} UTC, "
        f"{total / 60:,.1f} min in all; load averages at the start {run['load_start']}, at the end "
        f"{run['load_end']}.",
        "",
        *md_table(["benchmark", "exit code", "wall s", "CPU s", "results written", "arguments"], rows),
        "",
        "A non-zero exit is an error, or in a full run a target missed (the benchmark's report says which). "
        "CPU s: the script's and every process it started (its JVMs), which other work on the machine "
        "barely moves. Logs: " + ", ".join(f"`{shown(BENCH.parent / r['log'])}`" for r in run["runs"]) + ".",
        "",
    ]


def write_report_md(results_dir: Path, out: Path) -> Rendered:
    """Write ``out/REPORT.md`` and its plots from the results in ``results_dir``."""
    results = load_results(results_dir)
    drawn = []
    plot_lines = ["## Plots", ""]
    for plot in plots():
        path = out / PLOTS_DIR / plot.file
        if draw(plot, results, path):
            drawn.append(path)
            plot_lines += [f"![{plot.title}]({PLOTS_DIR}/{plot.file})", ""]
        else:
            sources = ", ".join(sorted({p.benchmark for p in plot.panels}))
            plot_lines += [f"{plot.title}: not drawn, no results from {sources} yet.", ""]
    missing = tuple(b.name for b in BENCHMARKS if b.name not in results)
    quick = any(d["quick"] for d in results.values())
    lines = [
        "# Benchmarks",
        "",
        f"Rendered by `bench/report.py` from `{shown(results_dir)}/*.json`, each written by its benchmark "
        "at the end of its run (`make bench` runs them all: `bench/suite.py`, the registry is "
        "`bench/registry.py`). Every comparison is a ratio of runs made side by side in one invocation, "
        "alternating; **value** is the ratio of the medians (or the median), **min** the same over the "
        "minimums. The command is on each benchmark's first row, from the repository root.",
        "",
    ]
    if quick:
        lines += [
            "**Quick runs** (`make bench-quick`): tiny data, one round; they prove each script runs end to "
            "end and say nothing about the targets, so none is judged.",
            "",
        ]
    lines += [
        "## Every figure",
        "",
        *(f"- **{b.name}** (`bench/{b.script}`): {b.measures}." for b in BENCHMARKS),
        "",
        *md_table(
            ["benchmark", "figure", "value", "min", "target", "met", "run at (UTC)", "command"],
            figure_rows(results, results_dir, out),
        ),
        "",
        *plot_lines,
        *machine_lines(results),
        *suite_lines(results_dir),
    ]
    report = out / "REPORT.md"
    report.parent.mkdir(parents=True, exist_ok=True)
    report.write_text("\n".join(lines))
    return Rendered(report, tuple(drawn), missing)


def shown(path: Path) -> str:
    """A path as a reader at the repository root names it."""
    path = path.resolve()
    return str(path.relative_to(BENCH.parent)) if path.is_relative_to(BENCH.parent) else str(path)


# ---------------------------------------------------------------------------------------------------
# Plots (matplotlib, imported here only: the registry and the table need none).


def series_of(results: dict[str, dict[str, Any]], panel: Panel) -> dict[str, Any] | None:
    """The panel's series, if its benchmark has results holding a point or a sample."""
    series = results.get(panel.benchmark, {}).get("series", {}).get(panel.series)
    return series if series and any(series["lines"].values()) else None


def draw(plot: Plot, results: dict[str, dict[str, Any]], path: Path) -> bool:
    """Draw ``plot`` into ``path`` if any of its panels has data; return whether it did."""
    panels = [(panel, series_of(results, panel)) for panel in plot.panels]
    if not any(series for _, series in panels):
        return False
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(panels), figsize=(max(8.0, 6.0 * len(panels)), 4.4), squeeze=False)
    for ax, (panel, series) in zip(axes[0], panels, strict=True):
        ax.set_title(panel.title + (" (quick run)" if results.get(panel.benchmark, {}).get("quick") else ""))
        if series is None:
            ax.text(0.5, 0.5, f"{panel.benchmark}: not run yet", ha="center", va="center")
            ax.set_axis_off()
        elif series["kind"] == "xy":
            draw_xy(ax, panel, series)
        else:
            draw_samples(ax, panel, series)
    fig.suptitle(plot.title)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return True


def draw_xy(ax: Any, panel: Panel, series: dict[str, Any]) -> None:
    """Each line: its median per x joined, every point faint (rounds scatter around the median)."""
    for label, points in series["lines"].items():
        points = [(x, y) for x, y in points if x is not None and y is not None]
        if not points:
            continue
        xs = sorted({x for x, _ in points})
        medians = [median(y for x, y in points if x == at) for at in xs]
        dense = len(xs) > 50  # a trace over batches: no markers, no scatter
        (line,) = ax.plot(xs, medians, marker=None if dense else "o", lw=1.2, label=label)
        if not dense and len(points) > len(xs):
            ax.scatter(*zip(*points, strict=True), s=12, alpha=0.35, color=line.get_color())
    if panel.reference is not None:
        ax.axhline(panel.reference, color="#c0392b", ls="--", lw=1, label=panel.reference_label)
    scale_axes(ax, panel)
    if ax.get_yscale() == "linear":
        ax.set_ylim(0, ax.get_ylim()[1] * 1.05)
    ax.set_xlabel(series["x"])
    ax.set_ylabel(series["y"])
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=8)


def draw_samples(ax: Any, panel: Panel, series: dict[str, Any]) -> None:
    """One empirical CDF per line, its p50 and p95 in the legend."""
    for label, values in series["lines"].items():
        values = sorted(v for v in values if v is not None)
        if not values:
            continue
        shares = [(i + 1) / len(values) for i in range(len(values))]
        p50, p95 = percentile(values, 50), percentile(values, 95)
        ax.step(
            [values[0], *values], [0.0, *shares], where="post",
            label=f"{label}: n={len(values)}, p50 {p50:.1f}, p95 {p95:.1f}",
        )  # fmt: skip
    if panel.reference is not None:
        ax.axvline(panel.reference, color="#c0392b", ls="--", lw=1, label=panel.reference_label)
    ax.axhline(0.95, color="0.6", lw=0.8, ls=":")
    scale_axes(ax, panel)
    ax.set_xlabel(series["unit"])
    ax.set_ylabel("share of samples at or below")
    ax.set_ylim(0, 1.02)
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize=8, loc="lower right")


def plain(value: float, _position: object = None) -> str:
    """A tick label: 1,000 rather than 10³."""
    return f"{value:,.0f}" if value >= 10 else f"{value:g}"


def two_and_five(value: float, _position: object = None) -> str:
    """A minor tick's label on a log axis: only 2 and 5 times a power of ten, so labels never crowd."""
    lead = value / 10 ** math.floor(math.log10(value)) if value > 0 else 0
    return plain(value) if round(lead, 6) in (2, 5) else ""


def scale_axes(ax: Any, panel: Panel) -> None:
    """Log axes where the panel asks, in plain numbers; a y axis whose data spans less than a decade stays
    linear (a log scale there only hides the labels), from 0."""
    from matplotlib.ticker import FuncFormatter

    if panel.log_x:
        ax.set_xscale("log")
    low, high = ax.dataLim.intervaly  # the data's own span: the axes' limits add margins, below 0 too
    if panel.log_y and low > 0 and high / low >= 10:
        ax.set_yscale("log")
    for axis, scale in ((ax.xaxis, ax.get_xscale()), (ax.yaxis, ax.get_yscale())):
        if scale == "log":
            axis.set_major_formatter(FuncFormatter(plain))
            axis.set_minor_formatter(FuncFormatter(two_and_five))


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--results", type=Path, default=REPORTS, help="where the results JSON are")
    parser.add_argument("--out", type=Path, default=BENCH, help="where REPORT.md and plots/ go")
    args = parser.parse_args(argv)
    rendered = write_report_md(args.results, args.out)
    missing = ", ".join(rendered.missing) or "none"
    print(f"{rendered.report}: {len(rendered.plots)} plot(s); benchmarks without results: {missing}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
