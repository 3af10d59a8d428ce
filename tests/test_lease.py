"""The writer lease (SPEC.md invariant 6): one writer at a time per lake, on a local directory and on S3.

Races and crashes use real processes (multiprocessing): a lease is about other processes. No JVM.
"""

from __future__ import annotations

import contextlib
import dataclasses
import multiprocessing
import os
import re
import signal
import socket
import subprocess
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from checkpoints_config import load_config
from sparkify.ops.lease import (
    Holder,
    LeaseError,
    LeaseHeldError,
    LeaseStore,
    LocalLeaseStore,
    S3LeaseStore,
    WriterLease,
    current_holder,
    lease_store,
    read_boot_id,
    read_pid_namespace,
    utc_text,
    writer_lease,
)
from sparkify.s3 import split_s3_uri
from tests.conftest import lake_config
from tests.s3_server import S3Server

LAKE = "/srv/lake/tables"  # how messages name the lake
RACERS = 6
# Races, each for a lake of its own: enough locally that a check-then-create fails the test every time;
# on S3 atomicity is the server's, and what is ours (the conditional put) shows in one race.
ROUNDS = {"local": 30, "s3": 5}
# Writer processes. Not fork: the test process runs moto's server threads. A fork server (one clean
# process, spawned once, that forks the writers) starts each in milliseconds rather than a second.
WRITERS = multiprocessing.get_context("forkserver")
WRITERS.set_forkserver_preload(["tests.test_lease", "boto3", "botocore.client"])
T0 = 1_900_000_000.0  # 2030-03-17 17:46:40 UTC, for injected clocks


@dataclass(frozen=True)
class StoreSpec:
    """How to open the same store in another process (a boto3 client does not cross processes)."""

    kind: str  # "local" or "s3"
    directory: str = ""
    endpoint: str = ""
    bucket: str = ""
    prefix: str = "tables/_lease"

    def of_lake(self, name: str) -> StoreSpec:
        """The same kind of store, for another lake."""
        if self.kind == "local":
            return dataclasses.replace(self, directory=f"{self.directory}/{name}")
        return dataclasses.replace(self, prefix=f"{self.prefix}/{name}")

    def open(self) -> LeaseStore:
        if self.kind == "local":
            return LocalLeaseStore(Path(self.directory))
        return S3LeaseStore(S3Server(self.endpoint).client(), self.bucket, self.prefix)


@pytest.fixture(params=["local", pytest.param("s3", marks=pytest.mark.s3)])
def spec(request, tmp_path) -> StoreSpec:
    if request.param == "local":
        return StoreSpec("local", directory=str(tmp_path / "tables" / "_lease"))
    server = request.getfixturevalue("s3_server")
    _, bucket = request.getfixturevalue("s3_bucket")
    return StoreSpec("s3", endpoint=server.endpoint_url, bucket=bucket)


@pytest.fixture
def store(spec: StoreSpec) -> LeaseStore:
    return spec.open()


@pytest.fixture
def atomic_conditional_puts(monkeypatch) -> None:
    """moto checks If-None-Match, then stores the object, with nothing held in between
    (``moto.s3.responses.S3Response.put_object``): two PUTs of one key at the same instant could both
    succeed, which S3 itself never allows. The server runs in this process: serialize its PutObject, so
    that a race tests our use of conditional writes, not moto's lack of a lock."""
    from moto.s3.responses import S3Response

    lock = threading.Lock()
    put_object = S3Response.put_object

    def serialized_put_object(self: S3Response) -> Any:
        with lock:
            return put_object(self)

    monkeypatch.setattr(S3Response, "put_object", serialized_put_object)


class Clock:
    """An injected wall clock: expiry without sleeping."""

    def __init__(self, now: float = T0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


class Calls:
    """An ``on_lost`` that counts its calls."""

    def __init__(self) -> None:
        self.count = 0

    def __call__(self) -> None:
        self.count += 1


def foreign_record(generation: int, at: float, *, host: str = "ip-10-0-0-7", **fields: Any) -> dict[str, Any]:
    """A live-looking record of a writer on another machine, as that writer would have written it."""
    return {
        "job": "stream",
        "host": host,
        "pid": 4242,
        "boot_id": "6f1c2a84-5d1e-4c3b-9a55-0d0c8e8f0a11",
        "pid_namespace": "pid:[4026531836]",
        "token": f"token-of-{host}-{generation}",
        "acquired_at": utc_text(at),
        "renewed_at": utc_text(at),
        "ttl_seconds": 60,
        "generation": generation,
        "released": False,
        **fields,
    }


def wait_for(condition: Callable[[], bool], timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.02)
    return condition()


def renewed_at(store: LeaseStore, generation: int) -> datetime:
    record = store.read(generation)
    assert record is not None
    return datetime.fromisoformat(record["renewed_at"])


class StoreWrapper:
    """A store that passes everything to another: subclasses change one operation to stage a fault."""

    def __init__(self, inner: LeaseStore) -> None:
        self.inner = inner

    def generations(self) -> list[int]:
        return self.inner.generations()

    def read(self, generation: int) -> dict[str, Any] | None:
        return self.inner.read(generation)

    def create(self, generation: int, record: Mapping[str, Any]) -> bool:
        return self.inner.create(generation, record)

    def overwrite(self, generation: int, record: Mapping[str, Any]) -> None:
        self.inner.overwrite(generation, record)

    def delete(self, generation: int) -> None:
        self.inner.delete(generation)


class FailingStore(StoreWrapper):
    """A store that cannot write while ``failing`` is set (S3 unreachable, disk full)."""

    failing = False

    def overwrite(self, generation: int, record: Mapping[str, Any]) -> None:
        if self.failing:
            raise OSError("the store is unreachable")
        self.inner.overwrite(generation, record)


# One writer, then the next


def test_a_second_writer_is_refused_at_once_naming_the_holder_and_the_next_one_follows_a_release(store):
    first = WriterLease(store, "stream", 60, LAKE, on_lost=Calls())

    with first:
        started = time.monotonic()
        with pytest.raises(LeaseHeldError) as refused:
            WriterLease(store, "backfill", 60, LAKE, on_lost=Calls()).acquire()
        assert time.monotonic() - started < 30  # at once: no waiting for the ttl (60 s)

        message = str(refused.value)
        assert message.startswith(f"the lake at {LAKE} is being written by stream (")
        assert f"pid {os.getpid()} on host {socket.gethostname()}, since " in message
        assert re.search(r"last heartbeat \d+ s ago\)", message)
        assert f"kill -TERM {os.getpid()}" in message
        assert "ttl 60 s" in message
        assert "\n" not in message
        assert (refused.value.holder.job, refused.value.holder.generation) == ("stream", 1)
        assert first.holder is not None and first.holder.generation == 1

    with WriterLease(store, "backfill", 60, LAKE, on_lost=Calls()) as second:
        assert second.generation == 2
        assert store.read(2)["job"] == "backfill"

    # The release marked the record released and pruned older generations.
    assert store.generations() == [2]
    assert store.read(2)["released"] is True
    assert not first.lost.is_set() and not second.lost.is_set()


def test_a_lease_is_acquired_once_and_release_is_idempotent(store):
    lease = WriterLease(store, "restore", 60, LAKE, on_lost=Calls())
    lease.acquire()
    lease.release()
    lease.release()

    with pytest.raises(LeaseError, match="acquired once"):
        lease.acquire()
    assert store.read(1)["released"] is True


def test_a_lease_held_error_survives_pickling_across_processes():
    import pickle

    holder = Holder.from_record(foreign_record(3, T0))
    error = LeaseHeldError(LAKE, holder, T0 + 5)

    copy = pickle.loads(pickle.dumps(error))

    assert (str(copy), copy.holder) == (str(error), holder)
    assert "last heartbeat 5 s ago" in str(copy) and "in about 55 s" in str(copy)


# Racing writers: exactly one wins


class RaceAtCreate(StoreWrapper):
    """A store whose writers all pass the "is it free?" check before any of them creates: every racer
    then contends on the one atomic create-if-absent, every time (not only when timing happens to)."""

    def __init__(self, inner: LeaseStore, barrier: Any) -> None:
        super().__init__(inner)
        self.barrier = barrier
        self.lost_at_create = False

    def create(self, generation: int, record: Mapping[str, Any]) -> bool:
        self.barrier.wait(timeout=60)
        created = self.inner.create(generation, record)
        self.lost_at_create = not created
        return created


def race_for_the_lease(spec: StoreSpec, barrier: Any, results: Any, done: Any) -> None:
    """One racer (in its own process), for the leases of several lakes: report won or refused each
    time, and hold the leases won until told (a released lease may be taken again, by right)."""
    stores = [RaceAtCreate(spec.of_lake(str(r)).open(), barrier) for r in range(ROUNDS[spec.kind])]
    stores[0].generations()  # connect and import before the race
    held = []
    for round, store in enumerate(stores):
        lease = WriterLease(store, "racer", 60, LAKE, on_lost=lambda: None)
        try:
            lease.acquire()
        except LeaseHeldError as e:
            results.put((round, "refused", os.getpid(), e.holder.pid, store.lost_at_create))
            continue
        except Exception as e:
            results.put((round, "error", os.getpid(), repr(e), None))
            continue
        results.put((round, "won", os.getpid(), lease.generation, None))
        held.append(lease)
    done.wait(60)
    for lease in held:
        lease.release()


def test_of_writers_racing_at_the_same_instant_exactly_one_wins(spec, request):
    if spec.kind == "s3":
        request.getfixturevalue("atomic_conditional_puts")
    barrier, results, done = WRITERS.Barrier(RACERS), WRITERS.Queue(), WRITERS.Event()
    racers = [
        WRITERS.Process(target=race_for_the_lease, args=(spec, barrier, results, done)) for _ in range(RACERS)
    ]
    for racer in racers:
        racer.start()
    try:
        outcomes = [results.get(timeout=60) for _ in range(RACERS * ROUNDS[spec.kind])]
    finally:
        done.set()
        for racer in racers:
            racer.join(30)
            racer.kill()

    for round in range(ROUNDS[spec.kind]):
        store = spec.of_lake(str(round)).open()
        this_round = [o[1:] for o in outcomes if o[0] == round]
        won = [o for o in this_round if o[0] == "won"]
        assert len(won) == 1, this_round
        (_, winner, generation, _) = won[0]
        # Every other racer lost the create itself (none saw the lease taken first) and names the winner.
        assert sorted(o for o in this_round if o[0] != "won") == sorted(
            ("refused", pid, winner, True) for pid in {r.pid for r in racers} - {winner}
        )
        assert generation == 1
        assert store.generations() == [1]
        assert store.read(1)["pid"] == winner


@pytest.mark.s3
def test_the_s3_server_refuses_a_second_conditional_put_of_a_key(s3_bucket):
    """What the S3 store relies on: PutObject with If-None-Match: * fails with 412 once the key exists,
    and leaves the object as it was."""
    from botocore.exceptions import ClientError

    client, bucket = s3_bucket
    client.put_object(Bucket=bucket, Key="k", Body=b"first", IfNoneMatch="*")

    with pytest.raises(ClientError) as refused:
        client.put_object(Bucket=bucket, Key="k", Body=b"second", IfNoneMatch="*")

    error = refused.value.response
    assert (error["Error"]["Code"], error["ResponseMetadata"]["HTTPStatusCode"]) == (
        "PreconditionFailed",
        412,
    )
    assert client.get_object(Bucket=bucket, Key="k")["Body"].read() == b"first"


def test_a_store_creates_only_if_absent_and_overwrites_and_deletes_whole_records(store):
    assert store.generations() == []
    assert store.read(1) is None

    assert store.create(1, foreign_record(1, T0, job="first")) is True
    assert store.create(1, foreign_record(1, T0, job="second")) is False

    assert store.read(1)["job"] == "first"
    store.overwrite(1, foreign_record(1, T0, job="overwritten"))
    assert (store.generations(), store.read(1)["job"]) == ([1], "overwritten")
    store.delete(1)
    store.delete(1)
    assert store.generations() == []


class StaleListing(StoreWrapper):
    """A store whose first listing is out of date: it shows none of the records there are."""

    stale = True

    def generations(self) -> list[int]:
        if self.stale:
            self.stale = False
            return []
        return self.inner.generations()


def test_a_writer_with_an_out_of_date_listing_does_not_win_below_the_live_lease(store):
    """Generations 1 and 2 were pruned; a writer that saw no record at all wins generation 1 again, but
    must see that the live lease is generation 3, step back, and be refused."""
    live = foreign_record(3, time.time())
    assert store.create(3, live)

    with pytest.raises(LeaseHeldError, match="pid 4242 on host ip-10-0-0-7"):
        WriterLease(StaleListing(store), "backfill", 60, LAKE, on_lost=Calls()).acquire()

    assert store.generations() == [3]
    assert store.read(3) == live


class CreateAnswerLost(StoreWrapper):
    """A store whose create lands but answers "it exists": S3's client retrying a PUT whose answer
    was lost, or NFS retrying a link."""

    def create(self, generation: int, record: Mapping[str, Any]) -> bool:
        self.inner.create(generation, record)
        return False


def test_a_create_that_landed_but_answered_it_exists_is_recognised_as_ours(store):
    with WriterLease(CreateAnswerLost(store), "stream", 60, LAKE, on_lost=Calls()) as lease:
        assert lease.generation == 1
    assert store.read(1)["released"] is True


def test_a_local_store_leaves_no_temporary_files_behind(tmp_path):
    store = LocalLeaseStore(tmp_path / "_lease")
    store.create(1, foreign_record(1, T0))
    store.create(1, foreign_record(1, T0))
    store.overwrite(1, foreign_record(1, T0))

    assert sorted(p.name for p in (tmp_path / "_lease").iterdir()) == ["writer-0000000001.json"]


# A writer that died


def hold_the_lease(spec: StoreSpec, held: Any) -> None:
    """A writer (in its own process) that takes the lease and keeps it until it is killed."""
    WriterLease(spec.open(), "stream", 60, LAKE, on_lost=lambda: None).acquire()
    held.set()
    time.sleep(120)


def is_zombie(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()[0] == "Z"
    except OSError:
        return False


needs_proc = pytest.mark.skipif(
    not read_boot_id() or not read_pid_namespace(), reason="needs Linux's boot_id and pid namespaces"
)


@contextlib.contextmanager
def killed_holder(spec: StoreSpec, store: LeaseStore, reaped: bool) -> Iterator[None]:
    """A writer process that held the lease until ``kill -9``; reaped by its parent, or a zombie yet."""
    # A fork server's child is the fork server's to reap: only a child of ours stays a zombie.
    context = WRITERS if reaped else multiprocessing.get_context("spawn")
    held = context.Event()
    writer = context.Process(target=hold_the_lease, args=(spec, held))
    writer.start()
    try:
        assert held.wait(30)
        with pytest.raises(LeaseHeldError, match=f"pid {writer.pid} on host"):
            WriterLease(store, "stream", 60, LAKE, on_lost=Calls()).acquire()

        os.kill(writer.pid, signal.SIGKILL)
        if reaped:
            writer.join(10)
            assert writer.exitcode == -signal.SIGKILL
        else:
            assert wait_for(lambda: is_zombie(writer.pid), 10)
        yield
    finally:
        writer.kill()
        writer.join(10)


def assert_taken_over_at_once(store: LeaseStore) -> None:
    started = time.monotonic()
    with WriterLease(store, "stream", 60, LAKE, on_lost=Calls()) as restarted:
        assert restarted.generation == 2
    assert time.monotonic() - started < 30  # the ttl of 60 s did not have to pass


@needs_proc
def test_a_writer_killed_with_sigkill_is_taken_over_at_once_on_the_same_machine(spec, store):
    with killed_holder(spec, store, reaped=True):
        assert_taken_over_at_once(store)


@needs_proc
def test_a_killed_writer_its_parent_has_not_reaped_yet_is_dead_too(tmp_path):
    spec = StoreSpec("local", directory=str(tmp_path / "_lease"))
    store = spec.open()
    with killed_holder(spec, store, reaped=False):
        assert_taken_over_at_once(store)


def test_a_holder_on_another_machine_is_refused_until_its_ttl_passes(store):
    assert store.create(1, foreign_record(1, T0))
    clock = Clock(T0 + 59)

    with pytest.raises(LeaseHeldError) as refused:
        WriterLease(store, "backfill", 60, LAKE, on_lost=Calls(), clock=clock).acquire()
    assert (
        "stream (pid 4242 on host ip-10-0-0-7, since 2030-03-17 17:46:40 UTC, last heartbeat 59 s ago)"
        in (str(refused.value))
    )
    assert "in about 1 s" in str(refused.value)

    clock.now = T0 + 61
    with WriterLease(store, "backfill", 60, LAKE, on_lost=Calls(), clock=clock) as taken_over:
        assert taken_over.generation == 2
        assert store.read(2)["job"] == "backfill"


def a_finished_pid() -> int:
    child = subprocess.Popen(["true"])
    child.wait()
    return child.pid


def here(**fields: Any) -> Holder:
    """A record of a writer on this very machine."""
    base = dict(
        host=socket.gethostname(),
        pid=a_finished_pid(),
        boot_id=read_boot_id(),
        pid_namespace=read_pid_namespace(),
    )
    return Holder.from_record(foreign_record(1, T0, **{**base, **fields}))


@needs_proc
def test_only_a_process_gone_from_this_machine_boot_and_pid_namespace_is_provably_dead():
    assert here().is_provably_dead()
    assert not here(pid=os.getpid()).is_provably_dead()  # alive
    assert not here(host="ip-10-0-0-7").is_provably_dead()  # another machine: its pids are not ours
    assert not here(boot_id="a-boot-before-a-reboot").is_provably_dead()  # a host name may be reused
    assert not here(boot_id="").is_provably_dead()  # a platform without boot ids proves nothing
    assert not here(pid_namespace="pid:[4026532999]").is_provably_dead()  # another container, same kernel


def test_a_released_or_expired_record_is_free_and_a_malformed_one_is_named():
    holder = Holder.from_record(foreign_record(1, T0))

    assert holder.is_live(T0 + 60) and not holder.is_live(T0 + 60.5)
    assert not Holder.from_record(foreign_record(1, T0, released=True)).is_live(T0)
    with pytest.raises(LeaseError, match="generation 7 is malformed"):
        Holder.from_record({**foreign_record(1, T0), "pid": "many"}, where="generation 7")
    with pytest.raises(LeaseError, match="delete it if no job is writing"):
        Holder.from_record({k: v for k, v in foreign_record(1, T0).items() if k != "token"})


def test_a_record_that_is_not_json_is_named_not_taken_over(tmp_path):
    (tmp_path / "_lease").mkdir()
    (tmp_path / "_lease" / "writer-0000000001.json").write_text("{half a rec")

    with pytest.raises(LeaseError, match=r"writer-0000000001\.json is not a lease record"):
        WriterLease(LocalLeaseStore(tmp_path / "_lease"), "stream", 60, LAKE, on_lost=Calls()).acquire()


# The heartbeat


def test_the_heartbeat_renews_and_gives_the_lease_up_once_it_is_taken_over(store):
    lost = Calls()
    with WriterLease(store, "stream", 1, LAKE, on_lost=lost) as lease:
        acquired = renewed_at(store, 1)
        assert wait_for(lambda: renewed_at(store, 1) > acquired, 30)  # every ttl/4
        assert not lease.lost.is_set()

        newer = foreign_record(2, time.time())  # another writer took over (after our ttl, say)
        assert store.create(2, newer)
        assert lease.lost.wait(30)
        last_renewal = store.read(1)
        time.sleep(0.6)  # two more ticks

        assert lost.count == 1
        assert store.read(1) == last_renewal  # no renewal after the loss

    # Release left the new holder, and our record, as they were.
    assert store.read(2) == newer
    assert store.read(1)["released"] is False


def test_renewals_failing_until_others_may_take_over_lose_the_lease_before_they_can(tmp_path):
    """The holder gives up once its next tick would come after the ttl, judged by its clock (injected
    here), so the test does not depend on how busy the machine is."""
    store, lost = FailingStore(LocalLeaseStore(tmp_path / "_lease")), Calls()
    now = [time.time()]
    with WriterLease(store, "stream", 2, LAKE, on_lost=lost, clock=lambda: now[0]) as lease:
        store.failing = True
        last_renewed = now[0]

        now[0] = last_renewed + 1.0  # 1.0 s behind, next tick (every 0.5 s) still within the ttl
        time.sleep(1.2)
        assert not lease.lost.is_set()

        now[0] = last_renewed + 1.6  # the next tick would come after others may take over
        assert lease.lost.wait(30)
        assert wait_for(lambda: lost.count == 1, 30)  # called once, just after `lost` is set


def test_a_renewal_that_fails_for_a_moment_is_retried(tmp_path):
    store, lost = FailingStore(LocalLeaseStore(tmp_path / "_lease")), Calls()
    began = time.time()
    slow = lambda: began + (time.time() - began) / 10  # noqa: E731  (a busy machine never nears the ttl)
    with WriterLease(store, "stream", 2, LAKE, on_lost=lost, clock=slow) as lease:
        store.failing = True
        time.sleep(0.6)  # one failed tick (every 0.5 s)
        store.failing = False
        failed_from = renewed_at(store, 1)

        assert wait_for(lambda: renewed_at(store, 1) > failed_from, 30)
        assert not lease.lost.is_set() and lost.count == 0


# Status, and which store a configuration means


def test_current_holder_of_a_fresh_lake_is_none_and_creates_nothing(tmp_path):
    config = lake_config(tmp_path)

    assert current_holder(config) is None
    assert list(tmp_path.iterdir()) == []

    with writer_lease(config, "backfill", on_lost=Calls()):
        holder = current_holder(config)
        assert holder is not None
        assert (holder.job, holder.pid, holder.host, holder.generation) == (
            "backfill",
            os.getpid(),
            socket.gethostname(),
            1,
        )
    assert current_holder(config) is None  # released
    assert Path(config.lease_path, "writer-0000000001.json").is_file()


@pytest.mark.s3
def test_current_holder_on_s3_reads_the_prefix_without_writing(s3_server, s3_bucket):
    client, bucket = s3_bucket
    env = {
        "SPARKIFY_S3_ENDPOINT": s3_server.endpoint_url,
        "SPARKIFY_S3_ACCESS_KEY_ID": s3_server.access_key,
        "SPARKIFY_S3_SECRET_ACCESS_KEY": s3_server.secret_key,
        "SPARKIFY_PATHS_OUTPUT_ROOT": f"s3a://{bucket}/tables",
    }
    config = load_config("s3", env=env)

    assert current_holder(config) is None
    assert client.list_objects_v2(Bucket=bucket)["KeyCount"] == 0
    no_bucket = {**env, "SPARKIFY_PATHS_OUTPUT_ROOT": "s3a://no-such-bucket-for-sparkify/tables"}
    assert current_holder(load_config("s3", env=no_bucket)) is None

    with writer_lease(config, "stream", on_lost=Calls()):
        holder = current_holder(config)
        assert holder is not None and (holder.job, holder.pid) == ("stream", os.getpid())
        keys = [o["Key"] for o in client.list_objects_v2(Bucket=bucket)["Contents"]]
        assert keys == ["tables/_lease/writer-0000000001.json"]
    assert current_holder(config) is None


@pytest.mark.parametrize(
    ("output_root", "expected"),
    [
        ("s3a://lake-bucket/tables", ("s3", "lake-bucket", "tables/_lease/")),
        ("s3://lake-bucket/", ("s3", "lake-bucket", "_lease/")),
        ("s3n://lake-bucket/a/b", ("s3", "lake-bucket", "a/b/_lease/")),
        ("/srv/lake/tables", ("local", "/srv/lake/tables/_lease")),
        ("file:///srv/lake/my%20tables", ("local", "/srv/lake/my tables/_lease")),
        ("file:/srv/lake", ("local", "/srv/lake/_lease")),
    ],
)
def test_the_lease_lives_beside_the_tables_in_the_store_of_their_scheme(output_root, expected):
    local = load_config("local", env={})
    config = dataclasses.replace(local, paths=dataclasses.replace(local.paths, output_root=output_root))

    store = lease_store(config)

    if isinstance(store, S3LeaseStore):
        assert ("s3", store.bucket, store.prefix) == expected
    else:
        assert isinstance(store, LocalLeaseStore)
        assert ("local", str(store.directory)) == expected


def test_a_lake_on_another_filesystem_has_no_lease_store(tmp_path):
    config = load_config("local", env={"SPARKIFY_PATHS_OUTPUT_ROOT": "hdfs://nn/lake"}, cwd=tmp_path)

    with pytest.raises(LeaseError, match="local filesystem or S3"):
        lease_store(config)


def test_the_s3_client_of_the_lease_keeps_path_style_and_adds_short_timeouts():
    env = {"SPARKIFY_S3_ENDPOINT": "http://127.0.0.1:9", "SPARKIFY_LEASE_TTL_SECONDS": "40"}
    store = lease_store(load_config("s3", env=env))

    assert isinstance(store, S3LeaseStore)
    client_config = store.client.meta.config
    assert client_config.s3 == {"addressing_style": "path"}
    assert (client_config.connect_timeout, client_config.read_timeout) == (5.0, 5.0)  # ttl / 8
    assert store.client.meta.endpoint_url == "http://127.0.0.1:9"


@pytest.mark.parametrize(
    ("uri", "expected"),
    [
        ("s3://bucket/key/part", ("bucket", "key/part")),
        ("s3a://bucket/a#b?c", ("bucket", "a#b?c")),
        ("s3n://bucket", ("bucket", "")),
    ],
)
def test_split_s3_uri(uri, expected):
    assert split_s3_uri(uri) == expected


@pytest.mark.parametrize("uri", ["/local/path", "gs://bucket/key", "s3a:///key"])
def test_split_s3_uri_refuses_what_is_not_an_s3_object(uri):
    with pytest.raises(ValueError, match="S3 URI"):
        split_s3_uri(uri)


def test_lease_times_are_iso_8601_utc():
    assert utc_text(T0) == "2030-03-17T17:46:40.000Z"
    assert datetime.fromisoformat(utc_text(T0)) == datetime.fromtimestamp(T0, UTC)
