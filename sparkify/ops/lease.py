"""One writer at a time per lake: a lease a writing job takes atomically before its first write.

Why: the backfill, the stream, ``restore`` and maintenance all write the same Delta tables. Two at once
can lose updates (the backfill/stream hand-off assumes they never overlap), and on S3 Delta's default
log store is safe for one driver only.

How: the lease is a sequence of JSON records ``writer-<generation>.json`` under ``config.lease_path``;
the highest generation is the current lease. A writer takes generation ``n + 1`` with an atomic
create-if-absent (``os.link`` locally, ``PutObject`` with ``If-None-Match: *`` on S3), so of any number
of racing writers exactly one wins, and it tries only when generation ``n`` is free: released, expired
(no heartbeat for its ``ttl_seconds``), or provably dead (its process is gone from this very machine).
The holder renews its record every ttl/4 and gives the lease up (``on_lost``) as soon as it sees a
higher generation, or when it could not renew in time.

Clocks: expiry compares a holder's ``renewed_at`` with the reader's wall clock, so the hosts' clocks
must agree within a few seconds (NTP keeps them within milliseconds), small against the ttl (60 s).

Limits: a lease is not a fence. A holder frozen for longer than its ttl (a suspended VM, a stalled
network) can be taken over and may finish the write it was in before its next heartbeat (ttl/4) sees
the newer generation. The lease keeps jobs from overlapping; it does not make a frozen one harmless.

Example:
    >>> with writer_lease(config, "backfill"):  # doctest: +SKIP
    ...     run_backfill(spark, config)
"""

from __future__ import annotations

import json
import logging
import os
import re
import signal
import socket
import threading
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import unquote, urlsplit

from checkpoints_config import PipelineConfig, is_s3_uri

log = logging.getLogger(__name__)

RECORD_NAME = re.compile(r"writer-(\d{10})\.json")
MIN_TTL_SECONDS = 1.0  # the configuration asks for >= 3; tests use less
ACQUIRE_ATTEMPTS = 5  # the lease changing hands this often while we look: give up, say so


def record_name(generation: int) -> str:
    return f"writer-{generation:010d}.json"


class LeaseError(RuntimeError):
    """The writer lease cannot be used: a malformed record, or a lease that keeps changing hands."""


# Stores: where the records live. Each offers an atomic create-if-absent; nothing else needs to be atomic.


class LeaseStore(Protocol):
    """The records of one lake's lease, by generation."""

    def generations(self) -> list[int]:
        """The generations present, ascending; empty when nothing (not even the directory) exists."""
        ...

    def read(self, generation: int) -> dict[str, Any] | None:
        """The record, or None when it does not exist."""
        ...

    def create(self, generation: int, record: Mapping[str, Any]) -> bool:
        """Write the record if no record of that generation exists, atomically; False if one does."""
        ...

    def overwrite(self, generation: int, record: Mapping[str, Any]) -> None:
        """Replace the record whole (a reader sees the old one or the new one)."""
        ...

    def delete(self, generation: int) -> None:
        """Remove the record; no error when it is already gone."""
        ...


def encode_record(record: Mapping[str, Any]) -> bytes:
    return (json.dumps(record, indent=2, sort_keys=True) + "\n").encode("utf-8")


def decode_record(data: bytes, where: str) -> dict[str, Any]:
    try:
        record = json.loads(data)
    except (UnicodeDecodeError, json.JSONDecodeError):
        record = None
    if not isinstance(record, dict):
        raise LeaseError(
            f"{where} is not a lease record (a JSON object); delete it if no job is writing the lake"
        )
    return record


class LocalLeaseStore:
    """Records in a local directory: any POSIX filesystem with hard links (NFS too: a retried link that
    reports "exists" after it worked is recognised as ours by the record's token)."""

    def __init__(self, directory: Path) -> None:
        self.directory = Path(directory)

    def __repr__(self) -> str:
        return f"LocalLeaseStore({str(self.directory)!r})"

    def path(self, generation: int) -> Path:
        return self.directory / record_name(generation)

    def generations(self) -> list[int]:
        try:
            names = os.listdir(self.directory)
        except FileNotFoundError:
            return []
        return sorted(int(m.group(1)) for m in map(RECORD_NAME.fullmatch, names) if m)

    def read(self, generation: int) -> dict[str, Any] | None:
        path = self.path(generation)
        try:
            data = path.read_bytes()
        except FileNotFoundError:
            return None
        return decode_record(data, str(path))

    def create(self, generation: int, record: Mapping[str, Any]) -> bool:
        # The lease is the first thing a writing job writes: it may make the lake's directory.
        self.directory.mkdir(parents=True, exist_ok=True)
        temp = self.write_temp(generation, record)
        try:
            # link() fails if the name exists, and the name appears with its whole content: no reader
            # ever sees a half-written record (O_EXCL on the final name alone would allow that).
            os.link(temp, self.path(generation))
        except FileExistsError:
            return False
        finally:
            temp.unlink(missing_ok=True)
        fsync_directory(self.directory)
        return True

    def overwrite(self, generation: int, record: Mapping[str, Any]) -> None:
        temp = self.write_temp(generation, record)
        try:
            os.replace(temp, self.path(generation))
        except BaseException:
            temp.unlink(missing_ok=True)
            raise
        fsync_directory(self.directory)

    def delete(self, generation: int) -> None:
        self.path(generation).unlink(missing_ok=True)

    def write_temp(self, generation: int, record: Mapping[str, Any]) -> Path:
        """A durable, fully written file of a name no other process uses (the record names never match it)."""
        temp = self.directory / f".{record_name(generation)}.{os.getpid()}.{uuid.uuid4().hex[:8]}.tmp"
        fd = os.open(temp, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
        try:
            with os.fdopen(fd, "wb") as f:
                f.write(encode_record(record))
                f.flush()
                os.fsync(f.fileno())
        except BaseException:
            temp.unlink(missing_ok=True)
            raise
        return temp


def fsync_directory(directory: Path) -> None:
    """Make a new or renamed name durable: without it a power cut can lose a lease we reported as won."""
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class S3LeaseStore:
    """Records under an S3 prefix. S3 is strongly consistent (list and read after write); conditional
    writes (``If-None-Match: *``) give the atomic create. An S3-compatible server must honour them."""

    def __init__(self, client: Any, bucket: str, prefix: str) -> None:
        self.client = client
        self.bucket = bucket
        self.prefix = f"{prefix.strip('/')}/" if prefix.strip("/") else ""

    def __repr__(self) -> str:
        return f"S3LeaseStore('s3://{self.bucket}/{self.prefix}')"

    def key(self, generation: int) -> str:
        return self.prefix + record_name(generation)

    def generations(self) -> list[int]:
        found = []
        try:
            pages = self.client.get_paginator("list_objects_v2").paginate(
                Bucket=self.bucket, Prefix=self.prefix + "writer-"
            )
            for page in pages:
                for obj in page.get("Contents", []):
                    if m := RECORD_NAME.fullmatch(obj["Key"][len(self.prefix) :]):
                        found.append(int(m.group(1)))
        except self.client.exceptions.NoSuchBucket:
            return []
        return sorted(found)

    def read(self, generation: int) -> dict[str, Any] | None:
        try:
            response = self.client.get_object(Bucket=self.bucket, Key=self.key(generation))
        except self.client.exceptions.NoSuchKey:
            return None
        return decode_record(response["Body"].read(), f"s3://{self.bucket}/{self.key(generation)}")

    def create(self, generation: int, record: Mapping[str, Any]) -> bool:
        from botocore.exceptions import ClientError

        try:
            self.client.put_object(
                Bucket=self.bucket,
                Key=self.key(generation),
                Body=encode_record(record),
                ContentType="application/json",
                IfNoneMatch="*",
            )
        except ClientError as e:
            code = e.response.get("Error", {}).get("Code")
            status = e.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
            # 412: the key exists. 409 ConditionalRequestConflict: a concurrent conditional write of the
            # same key is in flight, and at most one of them succeeds: either way we did not create it.
            if code in ("PreconditionFailed", "ConditionalRequestConflict") or status in (409, 412):
                return False
            raise
        return True

    def overwrite(self, generation: int, record: Mapping[str, Any]) -> None:
        self.client.put_object(
            Bucket=self.bucket,
            Key=self.key(generation),
            Body=encode_record(record),
            ContentType="application/json",
        )

    def delete(self, generation: int) -> None:
        self.client.delete_object(Bucket=self.bucket, Key=self.key(generation))


def lease_store(config: PipelineConfig) -> LeaseStore:
    """The store of ``config.lease_path``: S3 for s3://, s3a://, s3n://; a local directory for a path
    or a file: URI. Building it creates nothing."""
    location = config.lease_path
    if is_s3_uri(location):
        from botocore.config import Config

        from sparkify.s3 import s3_client, split_s3_uri

        bucket, prefix = split_s3_uri(location)
        # A renewal must fail fast rather than hang past the ttl: bounded timeouts, one retry.
        timeout = min(10.0, max(1.0, config.lease.ttl_seconds / 8))
        client_config = Config(
            connect_timeout=timeout, read_timeout=timeout, retries={"max_attempts": 2, "mode": "standard"}
        )
        return S3LeaseStore(s3_client(config, botocore_config=client_config), bucket, prefix)
    if location.startswith("file:"):
        parts = urlsplit(location)
        if parts.netloc not in ("", "localhost"):
            raise LeaseError(f"{location}: a file: URI of another host; the lake must be local or on S3")
        return LocalLeaseStore(Path(unquote(parts.path)))
    if "://" in location:
        raise LeaseError(f"{location}: the writer lease works on a local filesystem or S3, not this scheme")
    return LocalLeaseStore(Path(location))


# Who holds the lease


def utc_text(timestamp: float) -> str:
    return datetime.fromtimestamp(timestamp, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def read_boot_id() -> str:
    """This boot of this machine's kernel: with the host name, proves a pid is of this machine."""
    try:
        return Path("/proc/sys/kernel/random/boot_id").read_text().strip()
    except OSError:
        return ""


def read_pid_namespace() -> str:
    """The pid namespace, e.g. ``pid:[4026531836]``: containers sharing a host name and kernel (host
    networking) each have their own pids, so a pid is only comparable within one namespace."""
    try:
        return os.readlink("/proc/self/ns/pid")
    except OSError:
        return ""


def process_exists(pid: int) -> bool:
    """Whether ``pid`` is a running process here; a zombie (killed, not yet reaped) is not running."""
    if pid <= 0:  # os.kill(0 or -1, ...) would address process groups: never conclude anything from it
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's process: it exists
        return True
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return True
    return stat.rpartition(")")[2].split()[:1] != ["Z"]


@dataclass(frozen=True)
class Holder:
    """One lease record: which job holds (or held) the lease, where, and until when it counts."""

    job: str
    host: str
    pid: int
    boot_id: str
    pid_namespace: str
    token: str  # unique to one acquisition: tells our record from anyone else's
    acquired_at: datetime
    renewed_at: datetime
    ttl_seconds: float
    generation: int
    released: bool

    @classmethod
    def from_record(cls, record: Mapping[str, Any], where: str = "lease record") -> Holder:
        """Parse a record, naming it when it is not one of ours."""
        try:
            holder = cls(
                job=str(record["job"]),
                host=str(record["host"]),
                pid=int(record["pid"]),
                boot_id=str(record.get("boot_id", "")),
                pid_namespace=str(record.get("pid_namespace", "")),
                token=str(record["token"]),
                acquired_at=datetime.fromisoformat(record["acquired_at"]),
                renewed_at=datetime.fromisoformat(record["renewed_at"]),
                ttl_seconds=float(record["ttl_seconds"]),
                generation=int(record["generation"]),
                released=record["released"],
            )
            if not isinstance(holder.released, bool) or None in (
                holder.acquired_at.tzinfo,
                holder.renewed_at.tzinfo,
            ):
                raise ValueError("released must be a boolean, times must carry their zone")
        except (KeyError, TypeError, ValueError) as e:
            raise LeaseError(
                f"{where} is malformed ({type(e).__name__}: {e}); delete it if no job is writing the lake"
            ) from None
        return holder

    def is_expired(self, now: float) -> bool:
        """No heartbeat for longer than the holder's own ttl (the writer's setting, not the reader's)."""
        return now - self.renewed_at.timestamp() > self.ttl_seconds

    def is_provably_dead(self) -> bool:
        """The holder ran on this machine, in this boot and pid namespace, and its process is gone: a
        job restarted after ``kill -9`` need not wait for the ttl. Anything less certain is not proof."""
        here = (socket.gethostname(), read_boot_id(), read_pid_namespace())
        there = (self.host, self.boot_id, self.pid_namespace)
        return all(there) and there == here and not process_exists(self.pid)

    def is_live(self, now: float) -> bool:
        """Whether this record still keeps other writers out."""
        return not (self.released or self.is_expired(now) or self.is_provably_dead())

    def expires_in(self, now: float) -> float:
        return max(0.0, self.renewed_at.timestamp() + self.ttl_seconds - now)

    def describe(self, now: float) -> str:
        """E.g. ``stream (pid 4242 on host ip-10-0-0-7, since 2026-12-01 09:50:00 UTC, last heartbeat
        4 s ago)``."""
        since = self.acquired_at.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
        ago = max(0.0, now - self.renewed_at.timestamp())
        where = f"pid {self.pid} on host {self.host}"
        return f"{self.job} ({where}, since {since}, last heartbeat {ago:.0f} s ago)"


class LeaseHeldError(LeaseError):
    """Another job holds the lake's writer lease."""

    def __init__(self, location: str, holder: Holder, now: float) -> None:
        self.location, self.holder, self.now = location, holder, now
        super().__init__(
            f"the lake at {location} is being written by {holder.describe(now)}; wait for it to finish, "
            f"stop it (kill -TERM {holder.pid} on {holder.host}), or, if it is gone, retry after its lease "
            f"expires (ttl {holder.ttl_seconds:g} s, in about {holder.expires_in(now):.0f} s)"
        )

    def __reduce__(self) -> tuple[Any, ...]:  # picklable across processes, despite the custom __init__
        return (type(self), (self.location, self.holder, self.now))


def stop_this_process() -> None:
    """What a lost lease does by default: SIGTERM to ourselves, as ``kill`` would. The stream stops
    after its current micro-batch; the backfill and restore exit (the backfill resumes where it was)."""
    os.kill(os.getpid(), signal.SIGTERM)


class WriterLease:
    """The lake's writer lease for one run of a writing job: acquire before the first write, release on
    exit (a context manager does both). Acquired once; make a new one for another run.

    Parameters:
        store: where the records live (:func:`lease_store`).
        job: who is writing, as the refusal will name it (``"stream"``, ``"backfill"``, ``"restore"``).
        ttl_seconds: how long after the last heartbeat others may take over; renewed every ttl/4.
        location: the lake, as messages name it (its output root).
        on_lost: called once, from the heartbeat thread, when the lease is taken over or could not be
            renewed in time; by default SIGTERM to this process (:func:`stop_this_process`).
        clock: the wall clock, seconds since the epoch (tests inject one to expire leases at once).

    Example:
        >>> with WriterLease(LocalLeaseStore(Path("lake/tables/_lease")), "backfill", 60, "lake/tables"):
        ...     pass  # doctest: +SKIP
    """

    def __init__(
        self,
        store: LeaseStore,
        job: str,
        ttl_seconds: float,
        location: str,
        on_lost: Callable[[], None] = stop_this_process,
        *,
        clock: Callable[[], float] = time.time,
    ) -> None:
        if not job:
            raise ValueError("job must name the writing job, e.g. 'stream'")
        if ttl_seconds < MIN_TTL_SECONDS:
            raise ValueError(f"ttl_seconds must be at least {MIN_TTL_SECONDS:g}, got {ttl_seconds}")
        self.store, self.job, self.ttl_seconds, self.location = store, job, ttl_seconds, location
        self.on_lost, self.clock = on_lost, clock
        self.lost = threading.Event()
        self._record: dict[str, Any] | None = None
        self._renewed = 0.0  # renewed_at of the last renewal written, as a timestamp
        self._used = False
        self._stop = threading.Event()
        self._heartbeat: threading.Thread | None = None

    @property
    def holder(self) -> Holder | None:
        """Our record as last written; None before acquire and after release."""
        return None if self._record is None else Holder.from_record(self._record)

    @property
    def generation(self) -> int:
        if self._record is None:
            raise LeaseError("the writer lease is not held")
        return int(self._record["generation"])

    def __enter__(self) -> WriterLease:
        self.acquire()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.release()

    def acquire(self) -> Holder:
        """Take the lease, or raise :class:`LeaseHeldError` at once if a live writer holds it."""
        if self._used:
            raise LeaseError("a WriterLease is acquired once; make a new one")
        self._used = True
        for _ in range(ACQUIRE_ATTEMPTS):
            generations = self.store.generations()
            top = generations[-1] if generations else 0
            if top:
                current = self._read_holder(top)
                if current is None:  # removed between the listing and the read: look again
                    continue
                if current.is_live(self.clock()):
                    raise LeaseHeldError(self.location, current, self.clock())
            now = self.clock()
            record = self._new_record(top + 1, now)
            if not self._create(record):
                winner = self._read_holder(top + 1)
                if winner is not None and winner.is_live(self.clock()):
                    raise LeaseHeldError(self.location, winner, self.clock())
                continue
            if not self._is_current(record):
                continue
            self._record, self._renewed = record, now
            self._heartbeat = threading.Thread(
                target=self._beat, name=f"sparkify-lease-{self.job}", daemon=True
            )
            self._heartbeat.start()
            log.info("%s holds the writer lease of %s (generation %d)", self.job, self.location, top + 1)
            return Holder.from_record(record)
        raise LeaseError(
            f"the writer lease of {self.location} changed hands {ACQUIRE_ATTEMPTS} times while {self.job} "
            "tried to take it; another writer is starting: retry"
        )

    def _new_record(self, generation: int, now: float) -> dict[str, Any]:
        return {
            "job": self.job,
            "host": socket.gethostname(),
            "pid": os.getpid(),
            "boot_id": read_boot_id(),
            "pid_namespace": read_pid_namespace(),
            "token": uuid.uuid4().hex,
            "acquired_at": utc_text(now),
            "renewed_at": utc_text(now),
            "ttl_seconds": self.ttl_seconds,
            "generation": generation,
            "released": False,
        }

    def _create(self, record: dict[str, Any]) -> bool:
        generation = record["generation"]
        if self.store.create(generation, record):
            return True
        # A create whose first attempt landed but whose answer was lost is retried by the S3 client and
        # then finds "its" key taken: by ourselves.
        existing = self.store.read(generation)
        return existing is not None and existing.get("token") == record["token"]

    def _is_current(self, record: dict[str, Any]) -> bool:
        """After winning a generation: is it still the highest, and ours? A writer whose listing was long
        out of date can win a generation that was pruned, below the live one."""
        generation = record["generation"]
        generations = self.store.generations()
        if generations and generations[-1] == generation:
            existing = self.store.read(generation)
            # Not ours despite the won create: an S3-compatible server that ignores If-None-Match.
            return existing is not None and existing.get("token") == record["token"]
        existing = self.store.read(generation)
        if existing is not None and existing.get("token") == record["token"]:
            self.store.delete(generation)  # below the live generation it counts for nothing: tidy it
        return False

    def _read_holder(self, generation: int) -> Holder | None:
        record = self.store.read(generation)
        where = f"{self.store!r} generation {generation}"
        return None if record is None else Holder.from_record(record, where=where)

    def _beat(self) -> None:
        """The heartbeat thread: renew every ttl/4 until released, or until the lease is lost."""
        interval = self.ttl_seconds / 4
        while not self._stop.wait(interval):
            try:
                reason = self._renew()
            except Exception as e:  # S3 unreachable, disk full, ...: try again next tick, while there is time
                behind = self.clock() - self._renewed
                if behind + interval >= self.ttl_seconds:
                    # The next tick would come after others may take over: stop before, not after.
                    reason = f"it could not be renewed for {behind:.0f} s ({type(e).__name__}: {e})"
                else:
                    log.warning(
                        "could not renew the writer lease of %s (%s: %s); retrying in %.1f s",
                        self.location,
                        type(e).__name__,
                        e,
                        interval,
                    )
                    continue
            if reason is not None:
                self._lose(reason)
                return

    def _renew(self) -> str | None:
        """Write a new ``renewed_at`` if the lease is still ours; else say why it is not."""
        assert self._record is not None
        generation = self._record["generation"]
        generations = self.store.generations()
        if generations and generations[-1] > generation:
            try:
                newer = self._read_holder(generations[-1])
            except LeaseError:
                newer = None  # whatever it holds, a newer generation exists
            who = f": {newer.describe(self.clock())}" if newer is not None else ""
            return f"taken over (generation {generations[-1]}){who}"
        if generations[-1:] != [generation]:
            return "its record is gone"
        current = self.store.read(generation)
        if current is None or current.get("token") != self._record["token"]:
            return "its record was replaced"
        now = self.clock()
        record = {**self._record, "renewed_at": utc_text(now)}
        self.store.overwrite(generation, record)
        self._record, self._renewed = record, now
        return None

    def _lose(self, reason: str) -> None:
        if self.lost.is_set():
            return
        self.lost.set()
        log.warning("%s lost the writer lease of %s: %s", self.job, self.location, reason)
        try:
            self.on_lost()
        except Exception:
            log.exception("on_lost of the writer lease of %s failed", self.location)

    def release(self) -> None:
        """Stop renewing; mark our record released (if still ours) so the next writer need not wait,
        and prune older generations. Never raises: an unreleased lease still expires after its ttl."""
        if self._record is None:
            return
        self._stop.set()
        if self._heartbeat is not None and self._heartbeat is not threading.current_thread():
            self._heartbeat.join()
        record, self._record = self._record, None
        generation = record["generation"]
        try:
            if self.lost.is_set():
                return
            generations = self.store.generations()
            current = self.store.read(generation)
            if generations[-1:] != [generation] or current is None or current.get("token") != record["token"]:
                log.warning("the writer lease of %s was no longer ours at release", self.location)
                return
            released = {**record, "renewed_at": utc_text(self.clock()), "released": True}
            try:
                self.store.overwrite(generation, released)
            except Exception:  # a full disk cannot take the new record, but it can lose the old one
                self.store.delete(generation)
            log.info("%s released the writer lease of %s", self.job, self.location)
            for older in generations[:-1]:
                self.store.delete(older)
        except Exception as e:
            log.warning(
                "could not release the writer lease of %s (%s: %s); it expires %g s after its last heartbeat",
                self.location,
                type(e).__name__,
                e,
                self.ttl_seconds,
            )


def writer_lease(
    config: PipelineConfig, job: str, on_lost: Callable[[], None] = stop_this_process
) -> WriterLease:
    """The lease a writing job of this configuration takes (``with writer_lease(config, "stream"):``)."""
    return WriterLease(lease_store(config), job, config.lease.ttl_seconds, config.paths.output_root, on_lost)


def current_holder(config: PipelineConfig, *, clock: Callable[[], float] = time.time) -> Holder | None:
    """Who holds the lake's writer lease now, or None when no live writer does (for ``sparkify status``).

    Read-only: it never creates the directory or prefix, and a lake never written has no holder.
    """
    store = lease_store(config)
    for _ in range(ACQUIRE_ATTEMPTS):
        generations = store.generations()
        if not generations:
            return None
        record = store.read(generations[-1])
        if record is None:  # pruned between the listing and the read: a newer one exists
            continue
        holder = Holder.from_record(record, where=f"{store!r} generation {generations[-1]}")
        return holder if holder.is_live(clock()) else None
    return None
