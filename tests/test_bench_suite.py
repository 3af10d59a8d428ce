"""The benchmark suite without a JVM: every bench script is in the registry, and results render into
REPORT.md's table and real PNGs (matplotlib draws them here, as `make bench` does)."""

from __future__ import annotations

import importlib
import json
import math
from pathlib import Path
from types import ModuleType

import pytest

BENCH = Path(__file__).resolve().parents[1] / "bench"
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


@pytest.fixture
def bench(monkeypatch: pytest.MonkeyPatch) -> dict[str, ModuleType]:
    """bench/'s modules, imported as its scripts import each other (bench/ on sys.path)."""
    monkeypatch.syspath_prepend(str(BENCH))
    monkeypatch.delenv("SPARKIFY_BENCH_REPORTS", raising=False)
    monkeypatch.delenv("SPARKIFY_BENCH_WORK", raising=False)
    return {name: importlib.import_module(name) for name in ("common", "registry", "report")}


def test_every_bench_script_is_registered(bench):
    scripts = {path.name for path in BENCH.glob("bench_*.py")}
    registered = {b.script for b in bench["registry"].BENCHMARKS}  # one script may measure two datasets
    assert registered == scripts  # a new bench_*.py needs its entry; an entry needs its script
    names = [b.name for b in bench["registry"].BENCHMARKS]
    assert len(set(names)) == len(names)


def test_every_registered_script_writes_results_and_has_a_quick_run(bench):
    entries = bench["registry"].BENCHMARKS
    for b in entries:
        source = (BENCH / b.script).read_text()
        assert "write_results(" in source, f"{b.script} writes no results JSON"
        assert "--quick" in source, f"{b.script} has no quick run"
        if b.quick is None:  # its quick run would repeat another entry's, which must exist
            assert any(o.script == b.script and o.quick for o in entries), f"{b.name}: no quick run"
        else:
            assert "--quick" in b.quick, f"{b.name}: no quick run"


def test_plots_draw_registered_series(bench):
    names = {b.name for b in bench["registry"].BENCHMARKS}
    plots = bench["registry"].plots()
    assert len(plots) >= 4
    assert len({p.file for p in plots}) == len(plots)
    for plot in plots:
        assert {panel.benchmark for panel in plot.panels} <= names, plot.file


def test_a_quick_run_never_writes_into_bench_reports(bench):
    common = bench["common"]
    assert common.report_path(None, "x.md", quick=True).parent != common.REPORTS
    assert common.report_path(None, "x.md").parent == common.REPORTS
    with pytest.raises(SystemExit, match="never writes"):
        common.report_path(common.REPORTS / "x.md", "x.md", quick=True)


def test_ratio_figure_is_the_ratio_of_medians_and_of_minimums_judged_only_against_a_target(bench):
    common = bench["common"]
    judged = common.ratio_figure("growth", [3.0, 9.0, 6.0], [2.0, 4.0, 3.0, 100.0], 1.5, "note")
    assert judged == common.Figure("growth", 6.0 / 3.5, "×", "≤ 1.5×", False, 3.0 / 2.0, "note")
    assert common.ratio_figure("growth", [3.0], [2.0], 1.5).met is True
    plain = common.ratio_figure("a / b", [1.0, 3.0], [4.0])
    assert (plain.value, plain.min, plain.target, plain.met) == (0.5, 0.25, None, None)
    missing = common.ratio_figure("a / b", [], [1.0], 1.5)  # a side that never ran: nothing to judge
    assert (missing.value, missing.min, missing.met) == (None, None, None)


def test_write_results_keeps_the_schema_and_drops_what_json_cannot_hold(bench, tmp_path):
    common = bench["common"]
    figure = common.Figure("growth", math.nan, "×", "≤ 1.5×", True, min=float("inf"))
    series = {"s": common.samples_series("s", {"a": [1.0, math.inf]})}
    path = common.write_results(tmp_path / "x.md", "bench_x.py", [figure], series=series, quick=True)
    data = json.loads(path.read_text())
    assert path.name == "x.json" and data["benchmark"] == "x" and data["script"] == "bench/bench_x.py"
    assert data["figures"] == [
        {
            "name": "growth",
            "value": None,
            "unit": "×",
            "target": "≤ 1.5×",
            "met": None,
            "min": None,
            "note": "",
        }
    ]  # met: a quick run judges nothing
    assert data["series"]["s"]["lines"] == {"a": [1.0, None]}
    assert data["quick"] is True and data["machine"]["CPUs (nproc)"]


def test_report_renders_every_figure_the_missing_and_the_plots(bench, tmp_path):
    common, report = bench["common"], bench["report"]
    results, out = tmp_path / "reports", tmp_path
    results.mkdir()
    # One written by hand, as a benchmark of another branch might: the format report.py reads.
    (results / "merge_scaling.json").write_text(
        json.dumps(
            {
                "schema": 1,
                "benchmark": "merge_scaling",
                "script": "bench/bench_merge_scaling.py",
                "command": ".venv/bin/python bench/bench_merge_scaling.py",
                "report": "merge_scaling.md",
                "finished_at": "2026-12-05T12:00:00Z",
                "quick": False,
                "machine": {"CPUs (nproc)": "2", "memory": "23.5 GiB"},
                "loads": ["start: 1.00 / 2.00 / 3.00"],
                "figures": [
                    {"name": "MERGE growth", "value": 0.87, "unit": "×", "target": "≤ 1.5×", "met": True,
                     "min": 0.8, "note": "1M → 10M rows"},
                    {"name": "MERGE at 10M rows", "value": 12.345, "unit": "s", "target": None, "met": None,
                     "min": None, "note": ""},
                ],
                "series": {"merge_s_vs_rows": common.xy_series(
                    "rows", "s", {"scoped": [(1e6, 10.0), (1e6, 11.0), (1e7, 9.0)], "months": [(1e6, 12.0)]}
                )},
            }
        )
    )  # fmt: skip
    # The others through the writer the scripts call.
    write = common.write_results
    write(
        results / "freshness_validation.md",
        "bench_freshness.py",
        [common.Figure("p95 freshness, GX on", 11.2, "s", "≤ 10 s", False, min=9.1)],
        series={"latency_s": common.samples_series("s", {"GX on": [3.0, 5.5, 9.0], "GX off": [2.5, 4.0]})},
    )
    write(
        results / "discovery.md",
        "bench_discovery.py",
        [],
        series={
            "discovery_ms_vs_files": common.xy_series("files", "ms", {"pruned": [(1000, 36), (100000, 39)]})
        },
    )
    write(
        results / "validation.md",
        "bench_validation.py",
        [common.Figure("GX share", 21.0, "%", "≤ 30%", True)],
        series={
            "memory_mib_vs_batch": common.xy_series(
                "batches", "MiB", {"RSS": [(i, 300.0) for i in range(80)]}
            )
        },
    )

    rendered = report.write_report_md(results, out)

    text = rendered.report.read_text()
    assert rendered.report == out / "REPORT.md"
    cmd = "`.venv/bin/python bench/bench_merge_scaling.py`"
    assert (
        "| merge_scaling | MERGE growth (1M → 10M rows) | **0.87×** | 0.80× | ≤ 1.5× | yes "
        f"| 2026-12-05 12:00:00 | {cmd} |" in text
    )
    assert "|  | MERGE at 10M rows | 12.3 s | – | – | – |  |  |" in text
    assert "| freshness_validation | p95 freshness, GX on | **11.2 s** | 9.10 s | ≤ 10 s | **no** |" in text
    assert (
        "| backfill | not run since the suite existed: see [reports/backfill.md](reports/backfill.md) |"
        in text
    )
    assert set(rendered.missing) == {b.name for b in bench["registry"].BENCHMARKS} - {
        "merge_scaling", "freshness_validation", "discovery", "validation"
    }  # fmt: skip
    # Every plot has a series here (discovery's S3 panel says it is not run): all drawn, linked, real PNGs.
    assert {p.name for p in rendered.plots} == {p.file for p in bench["registry"].plots()}
    for png in rendered.plots:
        assert png.read_bytes()[:8] == PNG_MAGIC and png.stat().st_size > 5_000
        assert f"](plots/{png.name})" in text
    assert "| CPUs (nproc) | 2 |" in text and "start: 1.00 / 2.00 / 3.00" in text


def test_report_draws_no_plot_without_its_results(bench, tmp_path):
    rendered = bench["report"].write_report_md(tmp_path / "reports", tmp_path)
    assert rendered.plots == ()
    assert "not drawn, no results from merge_scaling yet" in rendered.report.read_text()


def test_a_log_y_panel_is_log_when_its_data_spans_a_decade_though_the_axes_margin_dips_below_zero(bench):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    report, registry = bench["report"], bench["registry"]
    panel = registry.Panel("discovery", "discovery_ms_vs_files", "listing", log_x=True, log_y=True)
    fig, (wide, narrow) = plt.subplots(1, 2)
    try:
        wide.plot([1_000, 100_000], [36, 5_000])  # linear autoscale puts the bottom at about -212
        narrow.plot([1_000, 100_000], [36, 49])  # under a decade: a log scale would only hide the labels
        report.scale_axes(wide, panel)
        report.scale_axes(narrow, panel)
        assert (wide.get_xscale(), wide.get_yscale()) == ("log", "log")
        assert (narrow.get_xscale(), narrow.get_yscale()) == ("log", "linear")
    finally:
        plt.close(fig)
