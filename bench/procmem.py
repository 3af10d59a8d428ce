"""Peak resident memory and CPU time of a process tree, sampled from /proc (psutil is not a dependency).

A PySpark job is a Python process plus a JVM child (plus Python workers under the JVM), so the
memory a job costs is the summed RSS of the whole tree, not the RSS of the process we started.
This kernel has no /proc/<pid>/task/<tid>/children, so the tree is rebuilt from the ppid in
/proc/<pid>/stat at every sample.
"""

from __future__ import annotations

import os
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

PROC = Path("/proc")
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def parent_pids() -> dict[int, int]:
    """Map every live pid to its parent pid."""
    parents: dict[int, int] = {}
    for entry in os.scandir(PROC):
        if not entry.name.isdigit():
            continue
        try:
            stat = (PROC / entry.name / "stat").read_text()
        except OSError:  # the process ended between listing and reading
            continue
        # The command name (field 2) may hold spaces and parentheses: parse after the last ')'.
        fields = stat[stat.rindex(")") + 2 :].split()
        parents[int(entry.name)] = int(fields[1])
    return parents


def descendants(root: int, parents: dict[int, int]) -> set[int]:
    """``root`` and every pid below it."""
    children: dict[int, list[int]] = {}
    for pid, ppid in parents.items():
        children.setdefault(ppid, []).append(pid)
    tree, todo = set(), [root]
    while todo:
        pid = todo.pop()
        if pid in tree:
            continue
        tree.add(pid)
        todo.extend(children.get(pid, []))
    return tree


def started_at(pid: int) -> int | None:
    """When ``pid`` started (clock ticks since boot), to tell it from a later process given the same pid;
    ``None`` when it is gone."""
    try:
        stat = (PROC / str(pid) / "stat").read_text()
    except OSError:
        return None
    return int(stat[stat.rindex(")") + 2 :].split()[19])  # field 22, starttime


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds ``pid`` has used so far; 0 when it is gone."""
    try:
        stat = (PROC / str(pid) / "stat").read_text()
    except OSError:
        return 0.0
    fields = stat[stat.rindex(")") + 2 :].split()
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS  # fields 14 and 15, utime and stime


def rss_bytes(pid: int) -> int:
    """VmRSS of ``pid`` in bytes; 0 when it is gone or a zombie (no VmRSS line)."""
    try:
        for line in (PROC / str(pid) / "status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 0


@dataclass
class TreeMemory:
    """What the sampler saw over a job's life."""

    peak_bytes: int = 0  # largest summed RSS of the tree at one sample
    peak_processes: int = 0  # processes in the tree at that sample
    samples: int = 0
    # CPU seconds of every process seen in the tree, as of its last sample: unlike wall time, barely moved
    # by other work on the machine (a process that lived between two samples is missed).
    cpu_by_process: dict[tuple[int, int | None], float] = field(default_factory=dict)

    @property
    def cpu_seconds(self) -> float:
        return sum(self.cpu_by_process.values())


class TreeSampler:
    """Sample the summed RSS of ``root``'s process tree every ``interval`` seconds on a thread.

    Example:
        >>> with TreeSampler(proc.pid) as sampler:  # doctest: +SKIP
        ...     proc.wait()
        >>> sampler.result.peak_bytes  # doctest: +SKIP
    """

    def __init__(self, root: int, interval: float = 0.2) -> None:
        if interval <= 0:
            raise ValueError(f"interval must be > 0 seconds, got {interval!r}")
        self.root = root
        self.interval = interval
        self.result = TreeMemory()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"procmem-{root}", daemon=True)

    def __enter__(self) -> TreeSampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    def sample(self) -> None:
        tree = descendants(self.root, parent_pids())
        total = sum(rss_bytes(pid) for pid in tree)
        for pid in tree:
            used = cpu_seconds(pid)
            if used:  # 0: gone since the listing (keep what it had used)
                self.result.cpu_by_process[pid, started_at(pid)] = used
        self.result.samples += 1
        if total > self.result.peak_bytes:
            self.result.peak_bytes = total
            self.result.peak_processes = len(tree)

    def _run(self) -> None:
        while not self._stop.is_set():
            began = time.monotonic()
            self.sample()
            self._stop.wait(max(0.0, self.interval - (time.monotonic() - began)))
