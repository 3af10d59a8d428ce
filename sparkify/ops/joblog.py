"""Where a command's log goes: our log records and the JVM's output (Spark's, Ivy's), one file a job run.

``demo``, ``backfill`` and ``stream`` show their phases and a summary on the terminal; what they and Spark
say on the way goes to ``<output root>/_logs/sparkify-<command>-<UTC time>.log``, or to
``./sparkify-logs/`` when the output root is not a local directory (a log is a local file, appended to
line by line, which an S3 object cannot be). The newest ``KEEP`` logs of each command stay. ``--verbose``
shows all of it on the terminal as well. On YARN (EMR) there is no file: the driver's stdout and stderr
are what EMR keeps and ``sparkify emr logs`` reads.

The JVM does not write through Python's ``sys.stderr``: it writes to the file descriptors it inherits
when pyspark starts it. So descriptor 2 points at the log while the JVM starts
(:meth:`JobLog.jvm_output`), and the JVM keeps it for its life: Ivy's resolution report, log4j's console
lines and the Python workers it forks all land in the file.
"""

from __future__ import annotations

import contextlib
import logging
import os
import socket
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from checkpoints_config import PipelineConfig
from sparkify.sources import is_local, local_path

LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
OUR_LOGGERS = ("sparkify", "batch_backfill", "streaming", "expectations")
REMOTE_LOG_DIR = Path("sparkify-logs")  # relative to the working directory, like ./sparkify-data-docs
KEEP = 20  # logs of one command kept: a stream restarted by hand each day keeps three weeks
MUTED = logging.CRITICAL + 1

log = logging.getLogger(__name__)


def log_dir(config: PipelineConfig) -> Path:
    """``<output root>/_logs`` when the output root is local, else ``./sparkify-logs``."""
    root = config.paths.output_root
    return local_path(root) / "_logs" if is_local(root) else REMOTE_LOG_DIR


class QuietFileHandler(logging.FileHandler):
    """A log file that cannot take a record (a full disk) says nothing about it: the job's own error
    does, in one line, where a traceback per record would bury it."""

    def handleError(self, record: logging.LogRecord) -> None:
        pass


class JobLog:
    """How one command logs; made once by the CLI's ``main``, closed when it returns.

    Our loggers log at ``level``, libraries at WARNING. Until a job opens its file (:meth:`open`) records
    go to stderr as they always did; after, to the file, and to stderr too only when ``verbose``. A host
    that set logging up already (pytest's capture) keeps its handlers, and no stderr handler is added.
    """

    def __init__(self, level: str, verbose: bool) -> None:
        self.level = level.upper()
        self.verbose = verbose
        self.path: Path | None = None
        self._file: logging.Handler | None = None
        root = logging.getLogger()
        self._terminal: logging.Handler | None = None
        if not root.handlers:
            self._terminal = logging.StreamHandler(sys.stderr)
            self._terminal.setFormatter(logging.Formatter(LOG_FORMAT))
            root.addHandler(self._terminal)
            root.setLevel(logging.WARNING)
        for name in OUR_LOGGERS:
            logging.getLogger(name).setLevel(self.level)

    def open(self, config: PipelineConfig, command: str) -> Path | None:
        """Start logging ``command`` to a new file of :func:`log_dir`; its path, or ``None`` on YARN."""
        if config.spark.master.startswith("yarn"):
            return None
        directory = log_dir(config)
        directory.mkdir(parents=True, exist_ok=True)
        earlier = sorted(directory.glob(f"sparkify-{command}-*.log"))
        for old in earlier[: max(len(earlier) - (KEEP - 1), 0)]:
            old.unlink(missing_ok=True)
        started = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
        self.path = new_file(directory, f"sparkify-{command}-{started}")
        self._file = QuietFileHandler(self.path, encoding="utf-8")
        self._file.setFormatter(logging.Formatter(LOG_FORMAT))
        logging.getLogger().addHandler(self._file)
        logging.captureWarnings(True)
        if self._terminal is not None and not self.verbose:
            self._terminal.setLevel(MUTED)
        log.info(
            "sparkify %s, pid %d on %s, output root %s",
            command,
            os.getpid(),
            socket.gethostname(),
            config.paths.output_root,
        )
        return self.path

    @contextmanager
    def jvm_output(self) -> Iterator[None]:
        """While the block starts the JVM, point descriptor 2 at the log (through a copying thread that
        also writes to the terminal when ``verbose``); the JVM keeps it, Python gets its own back."""
        if self.path is None:
            yield
            return
        sys.stderr.flush()
        terminal = os.dup(2)
        if self.verbose:
            source, target = os.pipe()
            tee = threading.Thread(
                target=copy_output, args=(source, self.path, os.dup(terminal)), name="jvm-output", daemon=True
            )
            tee.start()
        else:
            target = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        try:
            os.dup2(target, 2)
            yield
        finally:
            sys.stderr.flush()
            os.dup2(terminal, 2)
            os.close(terminal)
            os.close(target)

    def close(self) -> None:
        """Take our handlers off the root logger (a test may run many commands in one process)."""
        root = logging.getLogger()
        for handler in (self._file, self._terminal):
            if handler is not None:
                root.removeHandler(handler)
                handler.close()
        if self._file is not None:
            logging.captureWarnings(False)
        self._file = self._terminal = None


def new_file(directory: Path, stem: str) -> Path:
    """``directory/stem.log``, or ``stem-2.log``… when a run in the same second has it."""
    for n in range(1, 1000):
        path = directory / (f"{stem}.log" if n == 1 else f"{stem}-{n}.log")
        try:
            os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644))
            return path
        except FileExistsError:
            continue
    raise FileExistsError(f"{directory / stem}.log and 998 more exist")


def copy_output(source: int, path: Path, terminal: int) -> None:
    """Copy what the JVM writes into ``source`` to the log and the terminal, until the JVM exits."""
    with open(source, "rb", buffering=0) as pipe, open(path, "ab", buffering=0) as out:
        while chunk := pipe.read(65536):
            out.write(chunk)
            with contextlib.suppress(OSError):  # the terminal went away: the log still gets everything
                os.write(terminal, chunk)
