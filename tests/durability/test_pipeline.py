"""The service pipeline's durability promises, proven in-process on real SQLite files.

Nothing is released before its COMMIT returns; repeats are answered with the original
result whether in flight, committed or from before a restart; stale requests execute
nothing; a corrupt journal refuses to start and names the record.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import trio

from hcx.durability import window_build
from hcx.durability.errors import JournalCorrupt
from hcx.durability.journal import Journal
from hcx.durability.records import chain_next, crc_of, decode_record
from hcx.durability.replay import recover
from hcx.durability.snapshots import list_snapshots, snapshot_dir
from hcx.engine import EngineConfig
from hcx.engine.commands import Withdraw
from hcx.sequencing import EngineFault, Refusal, Reply
from hcx.service import recovery
from hcx.service.clock import SimClock
from hcx.service.config import ServiceConfig
from hcx.service.exchange import Exchange
from hcx.service.supervisor import open_exchange
from tests.durability.market import SYMBOL, listing, now_ms, order
from tests.gates import CommitGate


@dataclass
class WindowBuilds:
    in_child: bool
    stored: bool = False
    by_child: list[bool] = field(default_factory=list)  # per start: did the child build it
    from_stored: list[bool] = field(default_factory=list)  # per start: read from its file

    def check_last_start(self) -> None:
        if self.stored:
            assert self.from_stored and self.from_stored[-1]
            return
        assert self.by_child and self.by_child[-1] is self.in_child
        assert not self.from_stored[-1]


@pytest.fixture(params=["here", "child", "stored"])
def window_builds(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> WindowBuilds:
    """Starts rebuild the idempotency window in this process, or in the child process
    whatever its size and the replay's (thresholds of one key and no records), with the
    window files stored beside snapshots passed over; or read the newest window file."""
    builds = WindowBuilds(in_child=request.param == "child", stored=request.param == "stored")
    monkeypatch.setattr(window_build, "PARALLEL_MIN_KEYS", 1 if builds.in_child else 1 << 62)
    monkeypatch.setattr(window_build, "PARALLEL_MIN_TAIL", 0)
    if not builds.stored:
        monkeypatch.setattr(recovery, "load_window", lambda *args: None)
    original = window_build.WindowBuild.result

    def result(self: window_build.WindowBuild) -> Any:
        window = original(self)
        builds.by_child.append(self.built_by_child)
        builds.from_stored.append(self.from_stored)
        return window

    monkeypatch.setattr(window_build.WindowBuild, "result", result)
    return builds


async def _setup(exchange: Exchange) -> None:
    for answer in await exchange.submit_many(listing()):  # type: ignore[arg-type]
        assert isinstance(answer, Reply) and answer.result.status == "ok"


async def test_nothing_is_released_while_its_commit_is_held(tmp_path: Path) -> None:
    published: list[int] = []
    async with open_exchange(ServiceConfig(db=str(tmp_path / "j.db"))) as exchange:
        await _setup(exchange)
        exchange.add_publisher(lambda entries: published.extend(e.seq for e in entries))
        gate = CommitGate(exchange)
        got: list[Any] = []

        async def trade() -> None:
            got.append(await exchange.submit("alice", "sell", now_ms(), order("sell", "100")))
            got.append(await exchange.submit("bob", "buy", now_ms(), order("buy", "100")))

        async def read() -> None:
            got.append(await exchange.query(lambda engine: engine.balance("bob")))

        async with trio.open_nursery() as nursery:
            with gate.held():
                nursery.start_soon(trade)
                await trio.to_thread.run_sync(gate.entered.wait)
                nursery.start_soon(read)
                await trio.sleep(0.2)
                # The sell is applied and its commit is in progress: nobody has heard of it.
                assert got == [] and published == [] and gate.committed == []
        assert isinstance(got[0], Reply) and got[0].seq in gate.committed
        assert published[0] == got[0].seq
        assert gate.committed.index(got[0].seq) >= 0


async def test_a_query_waits_for_the_commands_before_it(tmp_path: Path) -> None:
    async with open_exchange(ServiceConfig(db=str(tmp_path / "j.db"))) as exchange:
        await _setup(exchange)
        gate = CommitGate(exchange)
        balances: list[Any] = []

        async def read() -> None:
            balances.append(await exchange.query(lambda engine: engine.balance("admin")))

        async with trio.open_nursery() as nursery:
            with gate.held():
                nursery.start_soon(exchange.submit, "admin", "w", now_ms(), Withdraw(1))
                await trio.to_thread.run_sync(gate.entered.wait)
                nursery.start_soon(read)
                await trio.sleep(0.1)
                assert balances == []
        assert len(balances) == 1


async def test_repeat_in_flight_waits_for_the_same_result(tmp_path: Path) -> None:
    path = str(tmp_path / "j.db")
    async with open_exchange(ServiceConfig(db=path)) as exchange:
        await _setup(exchange)
        gate = CommitGate(exchange)
        answers: list[Any] = []
        ts = now_ms()

        async def send() -> None:
            answers.append(await exchange.submit("alice", "dup", ts, order("buy", "90")))

        async with trio.open_nursery() as nursery:
            with gate.held():
                nursery.start_soon(send)
                await trio.to_thread.run_sync(gate.entered.wait)
                nursery.start_soon(send)
                await trio.sleep(0.1)
                assert answers == []
        assert answers[0] == answers[1]
        assert isinstance(answers[0], Reply)
    journal = Journal(path)
    requests = [decode_record(row[3]).request_id for row in journal.scan()]
    journal.close()
    assert requests.count("dup") == 1


async def test_repeat_after_commit_and_after_restart_gets_the_stored_result(
    tmp_path: Path, window_builds: WindowBuilds
) -> None:
    path = str(tmp_path / "j.db")
    ts = now_ms()
    async with open_exchange(ServiceConfig(db=path)) as exchange:
        await _setup(exchange)
        first = await exchange.submit("alice", "r1", ts, order("buy", "90"))
        again = await exchange.submit("alice", "r1", ts, order("buy", "90"))
        other_wallet = await exchange.submit("bob", "r1", ts, order("buy", "80"))
        assert again == first
        assert isinstance(other_wallet, Reply) and isinstance(first, Reply)
        assert other_wallet.seq != first.seq and other_wallet.result.wallet == "bob"
    async with open_exchange(ServiceConfig(db=path)) as exchange:
        window_builds.check_last_start()
        after_restart = await exchange.submit("alice", "r1", ts, order("buy", "90"))
        assert after_restart == first
        open_orders = await exchange.query(lambda engine: engine.open_orders("alice"))
        assert len(open_orders) == 1


async def test_stale_and_future_requests_execute_nothing(tmp_path: Path) -> None:
    path = str(tmp_path / "j.db")
    async with open_exchange(ServiceConfig(db=path, recv_window_ms=5_000)) as exchange:
        await _setup(exchange)
        before = exchange.sequencer.step.next_seq
        late = await exchange.submit("alice", "late", now_ms() - 6_000, order("buy", "90"))
        early = await exchange.submit("alice", "early", now_ms() + 5_000, order("buy", "90"))
        assert isinstance(late, Refusal) and late.code == "stale_request"
        assert isinstance(early, Refusal) and early.code == "stale_request"
        assert exchange.sequencer.step.next_seq == before


async def test_group_mode_batches_and_sync_mode_commits_one_by_one(tmp_path: Path) -> None:
    for mode, expect_batched in (("group", True), ("sync", False)):
        config = ServiceConfig(db=str(tmp_path / f"{mode}.db"), durability=mode)  # type: ignore[arg-type]
        async with open_exchange(config) as exchange:
            await _setup(exchange)
            ts = now_ms()
            items = [("alice", f"{mode}{n}", ts, order("buy", "1")) for n in range(200)]
            answers = await exchange.submit_many(items)  # type: ignore[arg-type]
            assert all(isinstance(a, Reply) for a in answers)
            stats = exchange.writer.stats
            assert stats.rows == 204
            assert (stats.batches < stats.rows) is expect_batched


async def test_memory_mode_runs_the_same_pipeline() -> None:
    async with open_exchange(ServiceConfig(durability="memory")) as exchange:
        await _setup(exchange)
        ts = now_ms()
        first = await exchange.submit("alice", "m1", ts, order("buy", "90"))
        assert await exchange.submit("alice", "m1", ts, order("buy", "90")) == first
        assert exchange.writer.stats.rows == 5


async def _journal_of(tmp_path: Path, orders: int) -> str:
    path = str(tmp_path / "j.db")
    async with open_exchange(ServiceConfig(db=path, snapshot_every=10**9)) as exchange:
        await _setup(exchange)
        ts = now_ms()
        sides = ("buy", "sell")
        await exchange.submit_many(
            [
                ("alice" if n % 3 else "bob", f"o{n}", ts, order(sides[n % 2], str(90 + n % 5)))
                for n in range(orders)
            ]  # type: ignore[misc]
        )
    for path_ in list_snapshots(snapshot_dir(path)):
        path_.unlink()
    return path


def _tamper(path: str, seq: int, *, fix_crc: bool, fix_chain: bool) -> None:
    journal = Journal(path)
    _, _, _, record, _, _ = journal.read(seq)  # type: ignore[misc]
    record = bytearray(record)
    record[-3] ^= 0x01
    blob = bytes(record)
    crc = crc_of(blob) if fix_crc else journal.read(seq)[4]  # type: ignore[index]
    journal.connection.execute(
        "UPDATE journal SET record = ?, crc = ? WHERE seq = ?", (blob, crc, seq)
    )
    if fix_chain:
        previous = journal.read(seq - 1)[5]  # type: ignore[index]
        for row in list(journal.scan(seq - 1)):
            previous = chain_next(previous, row[3])
            journal.connection.execute(
                "UPDATE journal SET chain = ? WHERE seq = ?", (previous, row[0])
            )
    journal.close()


@pytest.mark.parametrize(
    ("fix_crc", "fix_chain", "why"),
    [
        (False, False, "CRC mismatch"),
        (True, False, "hash chain broken"),
        (True, True, "replay diverged|undecodable"),
    ],
)
async def test_a_flipped_byte_refuses_start_naming_its_seq(
    tmp_path: Path, fix_crc: bool, fix_chain: bool, why: str
) -> None:
    path = await _journal_of(tmp_path, 40)
    _tamper(path, 17, fix_crc=fix_crc, fix_chain=fix_chain)
    with pytest.raises(JournalCorrupt, match=why) as caught:
        async with open_exchange(ServiceConfig(db=path)):
            pass
    assert caught.value.seq == 17


async def test_a_missing_record_is_named(tmp_path: Path) -> None:
    path = await _journal_of(tmp_path, 20)
    journal = Journal(path)
    journal.connection.execute("DELETE FROM journal WHERE seq = 9")
    journal.close()
    with pytest.raises(JournalCorrupt) as caught:
        recover(Journal(path), None, EngineConfig())
    assert caught.value.seq == 9


async def test_restart_uses_the_snapshot_and_replays_only_the_tail(tmp_path: Path) -> None:
    path = str(tmp_path / "j.db")
    config = ServiceConfig(db=path, snapshot_every=50, snapshots_kept=2)
    async with open_exchange(config) as exchange:
        await _setup(exchange)
        ts = now_ms()
        for chunk in range(4):
            await exchange.submit_many(
                [("alice", f"c{chunk}-{n}", ts, order("buy", "1")) for n in range(60)]  # type: ignore[misc]
            )
        digest = await exchange.query(lambda engine: engine.digest())
    snapshots = list_snapshots(snapshot_dir(path))
    assert len(snapshots) == 2
    progress: list[int] = []
    recovered = recover(Journal(path), snapshot_dir(path), EngineConfig())
    assert recovered.snapshot_seq == 244 and recovered.replayed == 0
    assert recovered.engine.digest() == digest
    full = recover(
        Journal(path),
        snapshot_dir(path),
        EngineConfig(),
        verify_from_start=True,
        progress=lambda done, total: progress.append(done),
        progress_every=100,
    )
    assert full.replayed == 244 and full.engine.digest() == digest
    assert progress == [100, 200]


class _WithApply:
    """``engine`` in every respect but ``apply``."""

    def __init__(self, engine: Any, apply: Any) -> None:
        self._engine = engine
        self.apply = apply

    def __getattr__(self, name: str) -> Any:
        return getattr(self._engine, name)


async def test_an_engine_fault_stops_everything_and_the_request_is_refused_after(
    tmp_path: Path,
) -> None:
    path = str(tmp_path / "j.db")
    ts = now_ms()
    with pytest.raises(EngineFault, match="poison"):
        async with open_exchange(ServiceConfig(db=path)) as exchange:
            await _setup(exchange)
            engine = exchange.engine
            real_apply = engine.apply

            def faulty(envelope: Any) -> Any:
                if envelope.request_id == "poison":
                    raise ZeroDivisionError("bug")
                return real_apply(envelope)

            # The compiled engine is a native class (no attribute can be set on it): the
            # sequencing step gets an engine whose ``apply`` is the faulty one instead.
            exchange.sequencer.step.engine = _WithApply(engine, faulty)  # type: ignore[assignment]
            await exchange.submit("alice", "poison", ts, order("buy", "90"))
    async with open_exchange(ServiceConfig(db=path)) as exchange:
        answer = await exchange.submit("alice", "poison", ts, order("buy", "90"))
        assert isinstance(answer, Refusal) and answer.code == "internal"
        fine = await exchange.submit("alice", "fine", ts, order("buy", "90"))
        assert isinstance(fine, Reply) and fine.result.symbol == SYMBOL


async def test_journal_time_never_goes_backwards_across_a_restart(tmp_path: Path) -> None:
    path = str(tmp_path / "j.db")
    late = SimClock(start_ms=now_ms())
    async with open_exchange(ServiceConfig(db=path), clock=late) as exchange:
        await _setup(exchange)
        first = await exchange.submit("alice", "t1", late.now_ms(), order("buy", "90"))
    early = SimClock(start_ms=late.now_ms() - 30_000)
    async with open_exchange(ServiceConfig(db=path), clock=early) as exchange:
        second = await exchange.submit("alice", "t2", early.now_ms(), order("buy", "90"))
    assert isinstance(first, Reply) and isinstance(second, Reply)
    assert second.result.ts >= first.result.ts  # type: ignore[union-attr]


@pytest.mark.parametrize("late_ms", [0, 1])
async def test_a_repeat_is_remembered_after_a_restart_for_as_long_as_it_can_pass(
    tmp_path: Path, late_ms: int, window_builds: WindowBuilds
) -> None:
    """The window rebuilt at start holds every record a repeat could still reach: one
    sent with the latest ``ts`` allowed (sequencing time + future) passes the stale check
    until sequencing time + window + future, and up to then it gets the stored result,
    though later commands moved the journal on; a millisecond later it is refused
    ``stale_request``. Never executed twice."""
    path = str(tmp_path / "j.db")
    config = ServiceConfig(db=path, recv_window_ms=60_000, future_ms=1_000)
    clock = SimClock(now_ms())
    async with open_exchange(config, clock=clock) as exchange:
        await _setup(exchange)
        sequenced_at = clock.now_ms()
        client_ts = sequenced_at + config.future_ms
        first = await exchange.submit("alice", "edge", client_ts, order("buy", "90"))
        assert isinstance(first, Reply) and first.result.status == "open"
        clock.set(sequenced_at + config.recv_window_ms + config.future_ms + late_ms)
        later = await exchange.submit("bob", "later", clock.now_ms(), order("buy", "80"))
        assert isinstance(later, Reply) and later.result.status == "open"
    async with open_exchange(config, clock=clock) as exchange:
        window_builds.check_last_start()
        again = await exchange.submit("alice", "edge", client_ts, order("buy", "90"))
        if late_ms:
            assert isinstance(again, Refusal) and again.code == "stale_request"
        else:
            assert again == first
        open_orders = await exchange.query(lambda engine: engine.open_orders("alice"))
        assert len(open_orders) == 1


async def test_lowering_future_ms_across_a_restart_keeps_every_reachable_key(
    tmp_path: Path, window_builds: WindowBuilds
) -> None:
    """Requests sequenced under a larger ``future_ms`` can carry a ``ts`` that far ahead;
    after a restart with a smaller one, their repeats still find their records."""
    path = str(tmp_path / "j.db")
    generous = ServiceConfig(db=path, recv_window_ms=60_000, future_ms=5_000)
    clock = SimClock(now_ms())
    async with open_exchange(generous, clock=clock) as exchange:
        await _setup(exchange)
        sequenced_at = clock.now_ms()
        client_ts = sequenced_at + generous.future_ms
        first = await exchange.submit("alice", "ahead", client_ts, order("buy", "90"))
        assert isinstance(first, Reply) and first.result.status == "open"
        clock.set(client_ts + generous.recv_window_ms)  # the last moment a repeat passes
        await exchange.submit("bob", "later", clock.now_ms(), order("buy", "80"))
    strict = ServiceConfig(db=path, recv_window_ms=60_000, future_ms=1_000)
    async with open_exchange(strict, clock=clock) as exchange:
        window_builds.check_last_start()
        again = await exchange.submit("alice", "ahead", client_ts, order("buy", "90"))
        assert again == first
        open_orders = await exchange.query(lambda engine: engine.open_orders("alice"))
        assert len(open_orders) == 1
