"""Benchmark and prove the AWS SDK jars S3A loads: hadoop-aws's shaded bundle against the SDK modules
``sparkify.session`` declares (issue 12: "the AWS SDK it needs: cache it; prove the smallest set").

Two variants of the S3 session's jars:

- ``bundle``: hadoop-aws 3.4.2 as its POM has it, with ``software.amazon.awssdk:bundle:2.29.52`` (every
  AWS service, shaded: 641 MB); what sparkify resolved before;
- ``modules``: ``sparkify.session.S3A_PACKAGES`` with ``S3A_EXCLUDES``: the bundle left out, the SDK
  modules S3A uses at the same version.

Default: sizes and start times. Each round starts ``build_spark`` with S3 (the local profile) for each
variant, alternating which goes first, in a child process from an empty Ivy directory (resolution and
download from Maven Central), then again from the jar list that start remembered (no Ivy, no network).
Reports the bytes Ivy downloaded into its ``cache/`` (it copies each jar into ``jars/`` too: the directory
holds twice that), the jars loaded and the two start times, each as Python sees ``build_spark`` (JVM
start included). Downloads depend on the network to Maven Central that moment: rounds alternate.

``--drop-each``: the proof that each SDK jar of the modules' set is needed. Resolves the set once, then
for each SDK jar in it runs ``s3a_probe.py`` (a fresh JVM: S3A's sync and async clients, multipart,
transfer manager, credential providers, TLS, Delta, against moto) on the jar list without that jar,
and keeps the first check that fails and its error. Also runs the probe on the whole set, on the bundle,
and on the set plus ``sts`` (the credential providers that need it).

Prints its figures, writes bench/reports/s3_jars.md (or s3_jars_needed.md) and its results JSON beside it
(for bench/suite.py); never asserts a time.

``--quick`` (a smoke run): the ``modules`` variant alone, started once from the Ivy directory every
sparkify session uses (``SPARKIFY_IVY_DIR``, by default ~/.cache/sparkify/ivy), which the pipeline's S3
sessions have resolved into already (else this start resolves the modules there, about 100 MB, once): no
empty Ivy directory (the bundle alone is 736 MB), no ``--drop-each``.

    .venv/bin/python bench/bench_s3_jars.py [--rounds 2] [--quick]
    .venv/bin/python bench/bench_s3_jars.py --drop-each

(From a git worktree, add ``PYTHONPATH=.``: a script's own directory, not the working one, heads
``sys.path``, so the editable install's tree would be imported instead.)
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass
from fnmatch import fnmatch
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

from common import (
    BENCH,
    Figure,
    load_average,
    machine_section,
    md_table,
    median,
    ratio_figure,
    ratio_of,
    report_header,
    report_path,
    say,
    work_path,
    write_report,
    write_results,
)

VARIANTS = ("bundle", "modules")
SDK_JAR_PREFIXES = ("software.amazon.awssdk_", "software.amazon.eventstream_", "org.reactivestreams_")
# hadoop-aws's own dependencies besides the SDK (left as its POM has them): dropped too, for the record
HADOOP_AWS_DEPS = ("software.amazon.s3.analyticsaccelerator_", "org.wildfly.openssl_")
PROBE = BENCH / "s3a_probe.py"
PROBE_CHECKS = "list,write,multipart,rename,upload,env_chain,container,instance_profile,tls,delta"
EXTRA_CHECKS = "sdk_default_chain,web_identity,assumed_role"
MB = 1e6


def variant_jars(variant: str) -> tuple[list[str], list[str]]:
    """The packages and exclusions a variant's S3 session resolves (with Delta's)."""
    from checkpoints_config import load_config
    from sparkify import session

    packages, excludes = session.jar_packages(load_config("local", env={}), with_s3=True)
    if variant == "bundle":  # hadoop-aws alone: its POM brings the bundle
        packages = [p for p in packages if p not in session.AWS_SDK_PACKAGES]
        excludes = []
    return packages, excludes


def start_once(variant: str) -> dict[str, Any]:
    """In this (child) process: time ``build_spark`` with S3 for ``variant`` (SPARKIFY_IVY_DIR is set)."""
    from checkpoints_config import load_config
    from sparkify import session

    if variant == "bundle":
        session.S3A_PACKAGES, session.S3A_EXCLUDES = (session.HADOOP_AWS_PACKAGE,), ()
    config = load_config("local", env={})
    packages, excludes = session.jar_packages(config, with_s3=True)
    resolving = "spark.jars.packages" in session.jar_conf(packages, session.ivy_dir(), excludes)
    began = time.perf_counter()
    spark = session.build_spark(
        config, app_name="bench-s3-jars", with_s3=True, extra_conf={"spark.ui.enabled": "false"}
    )
    seconds = time.perf_counter() - began
    jvm = spark.sparkContext._jvm
    loader = jvm.java.lang.Thread.currentThread().getContextClassLoader()  # where spark.jars are
    s3a = jvm.java.lang.Class.forName("org.apache.hadoop.fs.s3a.S3AFileSystem", True, loader)
    spark.stop()
    return {"seconds": seconds, "resolved": resolving, "s3a": str(s3a.getName())}


@dataclass(frozen=True)
class Start:
    variant: str
    round_no: int
    first_s: float | None  # None: no start from an empty Ivy directory (a quick run)
    cached_s: float
    downloaded: int | None  # bytes under the Ivy directory's cache/ (None: a shared Ivy directory)
    on_disk: int | None  # bytes under the whole Ivy directory
    jars: int
    jar_bytes: int
    sdk_jars: int
    sdk_bytes: int


def tree_bytes(root: Path) -> int:
    return sum(p.stat().st_size for p in root.rglob("*") if p.is_file())


def run_start(variant: str, ivy: Path) -> dict[str, Any]:
    """One ``start_once`` in a child process on ``ivy``."""
    env = {**os.environ, "SPARKIFY_IVY_DIR": str(ivy)}
    env.pop("SPARKIFY_CONFIG", None)
    done = subprocess.run(
        [sys.executable, __file__, "--start", variant], env=env, capture_output=True, text=True, check=False
    )
    if done.returncode:
        raise RuntimeError(f"{variant} did not start:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def measure(variant: str, round_no: int, work: Path) -> Start:
    """Start ``variant`` from an empty Ivy directory (resolution and download), then from the jar list that
    start remembered; its sizes. The directory is removed after."""
    ivy = work / f"ivy-{variant}"
    shutil.rmtree(ivy, ignore_errors=True)
    first = run_start(variant, ivy)
    cached = run_start(variant, ivy)
    if not first["resolved"] or cached["resolved"]:
        raise RuntimeError(f"{variant}: expected a resolution, then a start from the remembered list")
    start = sized(variant, round_no, ivy, first["seconds"], cached["seconds"], tree_bytes(ivy / "cache"))
    shutil.rmtree(ivy, ignore_errors=True)
    say(f"round {round_no} {variant}: first {start.first_s:.1f} s, cached {start.cached_s:.1f} s, "
        f"downloaded {(start.downloaded or 0) / MB:.1f} MB, {start.jars} jars")  # fmt: skip
    return start


def measure_shared(variant: str, ivy: Path) -> Start:
    """One start of ``variant`` from ``ivy``, a directory others use too (left as it is): from the jar list
    a previous start remembered, or a resolution into it if none did."""
    began = run_start(variant, ivy)
    start = sized(variant, 1, ivy, None, began["seconds"], None)
    how = "resolved into it" if began["resolved"] else "from the remembered jar list"
    say(f"{variant}: one start on {ivy} ({how}) {start.cached_s:.1f} s, {start.jars} jars")
    return start


def sized(
    variant: str, round_no: int, ivy: Path, first_s: float | None, cached_s: float, downloaded: int | None
) -> Start:
    """A start's figures, with the sizes of the jars the variant's resolution in ``ivy`` remembered."""
    from sparkify.session import manifest_path

    packages, excludes = variant_jars(variant)
    jars = [Path(j) for j in manifest_path(packages, ivy, excludes).read_text().split()]
    sdk = [j for j in jars if j.name.startswith(SDK_JAR_PREFIXES)]
    return Start(
        variant, round_no, first_s, cached_s, downloaded, None if downloaded is None else tree_bytes(ivy),
        len(jars), sum(j.stat().st_size for j in jars), len(sdk), sum(j.stat().st_size for j in sdk),
    )  # fmt: skip


def mb(value: int | None) -> str:
    return "–" if value is None else f"{value / MB:.1f}"


def timing_figures(starts: list[Start]) -> list[Figure]:
    """Per variant: MB downloaded, jars loaded and their size, cached start (median; min); the ratios
    modules / bundle of the downloads and of the cached starts, when both ran."""
    out = []
    for variant in dict.fromkeys(s.variant for s in starts):
        mine = [s for s in starts if s.variant == variant]
        cached = [s.cached_s for s in mine]
        one = mine[0]
        out += [
            Figure(f"{variant}: jars loaded", one.jars, "jars", note=f"SDK {one.sdk_jars}"),
            Figure(f"{variant}: jars' size", one.jar_bytes / MB, "MB", note=f"SDK {mb(one.sdk_bytes)} MB"),
            Figure(f"{variant}: cached start", median(cached), "s", min=min(cached)),
        ]
        if one.downloaded is not None:
            out.append(Figure(f"{variant}: downloaded", one.downloaded / MB, "MB"))
    if {s.variant for s in starts} == set(VARIANTS):

        def of(variant: str, attr: str) -> list[float]:
            return [getattr(s, attr) for s in starts if s.variant == variant]

        down_ratio = ratio_of(median(of("modules", "downloaded")), median(of("bundle", "downloaded")))
        out += [
            Figure("downloaded, modules / bundle", down_ratio, "×", "the smallest set that works"),
            ratio_figure(
                "cached start, modules / bundle", of("modules", "cached_s"), of("bundle", "cached_s")
            ),
        ]
    return out


def timing_report(starts: list[Start], loads: list[str], rounds: int, quick: bool = False) -> str:
    def summary(variant: str, attr: str) -> str:
        values = [getattr(s, attr) for s in starts if s.variant == variant]
        if None in values:
            return "–"
        return f"{min(values):.1f} / {median(values):.1f}"

    variants = list(dict.fromkeys(s.variant for s in starts))
    by_variant = {v: next(s for s in starts if s.variant == v) for v in variants}
    lines = report_header("AWS SDK jars for S3A: the bundle against the modules", __file__)
    lines += [
        "Each start is `build_spark(local profile, with_s3=True)` in a fresh child process: *first* from an",
        "empty Ivy directory (Ivy resolves and downloads from Maven Central), *cached* from the jar list the",
        "first start remembered. *Downloaded* is what Ivy fetched into its `cache/` (jars, POMs, Ivy files);",
        "it copies every jar into `jars/` too, so the directory holds about twice that. Both variants load",
        "Delta's jars too (the same in both).",
        "",
    ]
    if quick:
        lines += [
            "A quick run (`--quick`): `modules` alone, one start from the Ivy directory sparkify's sessions",
            "share (no empty directory, so no first start and nothing downloaded to report).",
            "",
        ]
    lines += [
        "## Sizes",
        "",
        *md_table(
            [
                "variant",
                "downloaded (MB)",
                "Ivy dir on disk (MB)",
                "jars loaded",
                "their size (MB)",
                "SDK jars",
                "SDK size (MB)",
            ],
            [
                (
                    v,
                    mb(s.downloaded),
                    mb(s.on_disk),
                    s.jars,
                    f"{s.jar_bytes / MB:.1f}",
                    s.sdk_jars,
                    f"{s.sdk_bytes / MB:.1f}",
                )
                for v, s in by_variant.items()
            ],
        ),
        "",
        f"## Start times, s ({rounds} round(s), alternating; min / median)",
        "",
        *md_table(
            ["variant", "first start (empty Ivy dir)", "cached start"],
            [(v, summary(v, "first_s"), summary(v, "cached_s")) for v in variants],
        ),
        "",
        "Every start:",
        "",
        *md_table(
            ["round", "variant", "first (s)", "cached (s)", "downloaded (MB)"],
            [
                (
                    s.round_no,
                    s.variant,
                    "–" if s.first_s is None else f"{s.first_s:.1f}",
                    f"{s.cached_s:.1f}",
                    mb(s.downloaded),
                )
                for s in starts
            ],
        ),
        "",
        *machine_section(loads),
    ]
    return "\n".join(lines) + "\n"


def probe(jar_args: list[str], checks: str, stop: bool = False) -> tuple[list[str], list[dict[str, Any]]]:
    """Run s3a_probe.py in a child process: the jars it loaded and one result per check."""
    argv = [sys.executable, str(PROBE), *jar_args, "--only", checks]
    argv += ["--stop-at-first-failure"] if stop else []
    done = subprocess.run(argv, capture_output=True, text=True, check=False)
    rows = [json.loads(line) for line in done.stdout.splitlines() if line.startswith("{")]
    if not rows:
        errors = [x for x in done.stderr.splitlines() if "Exception" in x or "Error" in x]
        return [], [
            {"check": "start", "ok": False, "error": (errors or [done.stderr[-300:]])[0].strip()[:400]}
        ]
    return rows[0]["jars"], rows[1:]


def packages_args(packages: list[str], excludes: list[str], ivy: Path) -> list[str]:
    return ["--packages", ",".join(packages), "--excludes", ",".join(excludes), "--ivy", str(ivy)]


def excluded_jar(exclude: str) -> str:
    """The jar file name pattern Ivy gives what ``groupId:artifactId`` names (``*`` stays a wildcard)."""
    group, artifact = exclude.split(":")
    return f"{group}_{artifact}-[0-9]*.jar"


def first_failure(results: list[dict[str, Any]]) -> str:
    failed = next((r for r in results if not r["ok"]), None)
    return f"`{failed['check']}`: {failed['error']}" if failed else "every check passed"


def drop_each(work: Path, loads: list[str]) -> tuple[str, list[Figure]]:
    """The report of the probes without each jar, and its figures."""
    from sparkify.session import AWS_SDK_VERSION

    modules, modules_excludes = variant_jars("modules")
    bundle, _ = variant_jars("bundle")
    ivy = work / "ivy-modules"
    say("resolving the modules' set and probing it whole")
    jars, whole = probe(packages_args(modules, modules_excludes, ivy), f"{PROBE_CHECKS},{EXTRA_CHECKS}")
    if not jars or not all(r["ok"] for r in whole if r["check"] not in EXTRA_CHECKS):
        raise RuntimeError(f"the modules' set itself fails: {whole}")
    say("probing the bundle")
    _, with_bundle = probe(packages_args(bundle, [], work / "ivy-bundle"), f"{PROBE_CHECKS},{EXTRA_CHECKS}")
    say("probing the modules plus sts")
    sts = f"software.amazon.awssdk:sts:{AWS_SDK_VERSION}"
    _, with_sts = probe(packages_args([*modules, sts], modules_excludes, ivy), EXTRA_CHECKS)

    paths = [Path(urlparse(j).path) for j in jars]
    sdk = sorted((j for j in paths if j.name.startswith(SDK_JAR_PREFIXES)), key=lambda p: p.name)
    others = sorted((j for j in paths if j.name.startswith(HADOOP_AWS_DEPS)), key=lambda p: p.name)
    excluded = [p.name for p in paths if any(fnmatch(p.name, excluded_jar(e)) for e in modules_excludes)]
    if excluded:
        raise RuntimeError(f"resolved despite spark.jars.excludes: {excluded}")
    dropped: list[tuple[str, int, str]] = []
    for jar in [*sdk, *others]:
        listing = work / "jars.txt"
        listing.write_text("".join(f"{j}\n" for j in paths if j != jar))
        began = time.perf_counter()
        _, results = probe(["--jars", str(listing)], PROBE_CHECKS, stop=True)
        dropped.append((jar.name, jar.stat().st_size, first_failure(results)))
        say(f"without {jar.name} ({time.perf_counter() - began:.0f} s): {dropped[-1][2][:160]}")
    loads.append(f"end: {load_average()}")

    def outcome(results: list[dict[str, Any]]) -> list[tuple[str, str]]:
        return [(r["check"], "ok" if r["ok"] else f"FAIL: {r['error']}") for r in results]

    lines = report_header("AWS SDK jars for S3A: each one needed?", __file__)
    lines += [
        f"The modules' set: `{'`, `'.join(modules)}`, excluding `{'`, `'.join(modules_excludes)}`.",
        f"It resolves to {len(jars)} jars (none of the excluded), {len(sdk)} of them the SDK's "
        f"({sum(j.stat().st_size for j in sdk) / MB:.2f} MB). Each probe is `bench/s3a_probe.py` in a fresh",
        "JVM against moto on loopback (its docstring says what each check exercises); a jar is left out",
        "by starting Spark with `spark.jars` = the resolved list without it; the checks stop at the first",
        "failure.",
        "",
        "## Without one SDK jar (the first check that fails)",
        "",
        *md_table(
            ["jar left out", "size (KB)", "first failure"],
            [(n, f"{b / 1e3:.0f}", f) for n, b, f in dropped[: len(sdk)]],
        ),
        "",
        "hadoop-aws's own dependencies besides the SDK (kept as its POM has them, for the S3A options that",
        "load them: `fs.s3a.input.stream.type = analytics`, `fs.s3a.ssl.channel.mode = openssl`):",
        "",
        *md_table(
            ["jar left out", "size (KB)", "first failure"],
            [(n, f"{b / 1e3:.0f}", f) for n, b, f in dropped[len(sdk) :]],
        ),
        "",
        "## The whole set",
        "",
        *md_table(["check", "result"], outcome(whole)),
        "",
        "## The bundle (hadoop-aws's POM as it is)",
        "",
        *md_table(["check", "result"], outcome(with_bundle)),
        "",
        f"## The set plus `{sts}`",
        "",
        *md_table(["check", "result"], outcome(with_sts)),
        "",
        *machine_section(loads),
    ]
    unneeded = [name for name, _, failure in dropped[: len(sdk)] if failure == "every check passed"]
    figures = [
        Figure("SDK jars in the modules' set", len(sdk), "jars", note=f"{len(jars)} jars in all"),
        Figure(
            "SDK jars no check needs",
            len(unneeded),
            "jars",
            "0 (each kept jar needed)",
            not unneeded,
            note=", ".join(unneeded),
        ),
    ]
    return "\n".join(lines) + "\n", figures


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--drop-each", action="store_true", help="prove each SDK jar is needed")
    parser.add_argument(
        "--quick", action="store_true", help="smoke run: modules alone, one start from the shared Ivy dir"
    )
    parser.add_argument("--start", choices=VARIANTS, help=argparse.SUPPRESS)  # the child's one start
    parser.add_argument("--work", type=Path, help="default: bench/out/s3_jars")
    parser.add_argument("--report", type=Path, help="default: bench/reports/s3_jars.md (s3_jars_needed.md)")
    args = parser.parse_args(argv)
    if args.start:
        print(json.dumps(start_once(args.start)))
        return 0
    if args.rounds < 1:
        parser.error(f"--rounds must be >= 1, got {args.rounds}")
    if args.quick and args.drop_each:
        parser.error("--drop-each has no quick run: it starts a JVM per jar")
    work = work_path(args.work, "s3_jars", args.quick).resolve()
    work.mkdir(parents=True, exist_ok=True)
    loads = [f"start: {load_average()}"]
    if args.drop_each:
        report = report_path(args.report, "s3_jars_needed.md")
        text, figures = drop_each(work, loads)
        write_report(report, text)
        write_results(report, __file__, figures, loads=loads)
        return 0
    report = report_path(args.report, "s3_jars.md", args.quick)
    starts: list[Start] = []
    if args.quick:
        from sparkify.session import ivy_dir

        args.rounds = 1
        starts.append(measure_shared("modules", ivy_dir()))
    else:
        for round_no in range(1, args.rounds + 1):
            for variant in VARIANTS if round_no % 2 else VARIANTS[::-1]:
                starts.append(measure(variant, round_no, work))
            loads.append(f"after round {round_no}: {load_average()}")
    write_report(report, timing_report(starts, loads, args.rounds, args.quick))
    write_results(report, __file__, timing_figures(starts), loads=loads, quick=args.quick)
    return 0


if __name__ == "__main__":
    sys.exit(main())
