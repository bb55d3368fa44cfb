"""SIGKILL campaigns against a real ``hcx serve`` while clients trade through the kills.

A ``ChaosCampaign`` starts ``hcx serve`` (``--auth none`` on loopback, durability
``group``, a small ``snapshot_every`` so snapshot children are forked all the time) on
one journal, lists a small options chain and funds its traders through an admin client,
then lets ``clients`` wallets trade with ``hcx.client``, each on a few connections with a
task on each: crossing limit orders (GTC and IOC), cancels, replaces, bulk orders,
cancel-alls and withdrawals, and now and then a deliberate repeat of a recent request
(maybe on the other connection, maybe while the original is in flight), while the admin
tops wallets up, moves the index and, after a few kills, lists one more series that
orders have been naming (and getting ``unknown_symbol`` for) all along. Every request is
recorded in the ``Ledger`` (wallet, request_id, ts and the command as sent) before it is
sent, and every answer when it arrives; two answers to one request must be identical.

Meanwhile the campaign SIGKILLs the server at seeded random moments: mostly together
with its process group (the snapshot children die with it), sometimes alone; sometimes
while it starts or replays, mostly a random time after it executed something new. It
then judges the journal and restarts the server on the same journal and port. The
clients reconnect by themselves and re-send every request still unanswered with its
original request_id and ts; the server answers those that executed before the crash
with their stored results and executes the others once.

After every kill ``tests.harness.crash.judge_journal`` holds the journal to every answer
ever received (recovery from the newest snapshot and from seq 1 with every snapshot's
digest checked agree; each answer is the journal's record at its seq, rendered as the
client parses it; no (wallet, request_id) twice; money conserved; no book crossed), and
each wallet's ``orders`` and ``fills`` messages, which its client resumes with
``from_seq`` after every reconnect, must be a prefix of that wallet's events in the
journal: none lost in between, none twice, none that the journal does not hold. At the
end the clients finish what they have in flight and place a resting barrier order each,
every request sent must have been answered, the channels must have delivered everything
up to the barriers, the server stops on SIGTERM with status 0, the journal must hold
exactly the requests sent (each once) and ``hcx replay --verify`` must reach the same
digest.

Problems are collected as strings, as in ``tests.harness.crash``; a test asserts that the
list is empty. ``scripts/chaos.py`` runs long campaigns; ``tests/crash/test_chaos.py`` a
short one.
"""

from __future__ import annotations

import random
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, TextIO

import attrs
import trio

from hcx.client import (
    connect,
    parse_message,
)
from hcx.durability.journal import Journal
from hcx.durability.records import decode_output_object, decode_record
from hcx.protocol.messages import to_wire
from tests.harness.chaos_traders import (
    ADMIN,
    CHANNEL_OF,
    FINAL_LIMIT_S,
    LISTENING,
    RECONNECT_LIMIT_S,
    START_LIMIT_S,
    STREAM_EVENTS,
    Actor,
    Ledger,
    comparable,
    first_difference,
    pick_port,
    render_stored,
)
from tests.harness.crash import DriverRun, JournalCheck, ProblemCounts, judge_journal


@attrs.define(eq=False)
class ChaosCampaign:
    """Kill ``hcx serve`` under ``clients`` trading wallets; see the module docstring."""

    db: str
    seed: int
    workdir: Path
    clients: int = 3
    # hcx.client connections per trading wallet, one trading task on each.
    connections_per_wallet: int = 2
    snapshot_every: int = 200
    durability: str = "group"
    # Kill modes: the chance of a kill a random time after spawn (start-up, replay, the
    # clients' reconnects), else a random delay after the first new execution.
    early_kill_chance: float = 0.15
    early_kill_max_s: float = 1.0
    run_max_s: float = 0.6
    group_kill_chance: float = 0.75
    # The chance that a cycle stops the server with SIGTERM instead (a graceful stop under
    # load: new commands are answered ``unavailable`` and sent again), and the chance
    # that such a stop is cut short by a SIGKILL of the group.
    term_chance: float = 0.1
    term_kill_chance: float = 0.5
    # The admin lists ``LATE_SERIES`` once this many kills have happened.
    list_late_after: int = 2
    keep_outputs: bool = False
    log: TextIO | None = None
    # Called with one line per kill cycle (scripts/chaos.py --verbose).
    report: Callable[[str], None] | None = None
    problems: list[str] = attrs.Factory(list)
    ledger: Ledger = attrs.field(init=False)
    rng: random.Random = attrs.field(init=False)
    port: int = attrs.field(init=False)
    server: DriverRun | None = None
    cycle: int = 0
    kills: int = 0
    terms: int = 0
    early_kills: int = 0
    alone_kills: int = 0
    kills_after_new_work: int = 0
    bulks: int = 0
    repeats: int = 0
    bulk_items_resent: int = 0
    unavailable_resent: int = 0
    commands_resent: int = 0
    outstanding_at_kills: int = 0
    snapshots_verified: int = 0
    recoveries_from_snapshot: int = 0
    last_check: JournalCheck | None = None
    late_listed: bool = False
    actors: list[Actor] = attrs.Factory(list)
    # Each wallet's private-channel events in the journal, rendered, up to ``streams_seq``
    # (the journal below the last judged seq never changes, so this only grows).
    streams: dict[tuple[str, str], list[str]] = attrs.Factory(dict)
    streams_seq: int = 0
    stream_messages_checked: int = 0
    # Whether the end waited for the channels to deliver everything (not after a problem).
    drained: bool = False
    final_check: JournalCheck | None = None
    replay_digest: str | None = None

    def __attrs_post_init__(self) -> None:
        self.ledger = Ledger(self.problems, self.log)
        self.rng = random.Random(self.seed)
        # Not from the seed: two campaigns with one seed may run side by side.
        self.port = pick_port(random.Random())

    @property
    def wallets(self) -> list[str]:
        return [f"trader{n}" for n in range(self.clients)]

    @property
    def url(self) -> str:
        return f"ws://127.0.0.1:{self.port}/ws"

    @property
    def resent(self) -> int:
        return self.commands_resent + self.bulk_items_resent + self.unavailable_resent

    # --- the server ---------------------------------------------------------------

    def config_file(self) -> Path:
        path = self.workdir / "chaos-server.toml"
        path.write_text(f"[service]\nsnapshot_every = {self.snapshot_every}\n")
        return path

    def spawn(self) -> DriverRun:
        """Start ``hcx serve`` on the campaign's journal and port, in a session of its own
        (its process group is the server and its snapshot children)."""
        self.cycle += 1
        command = [
            sys.executable,
            "-m",
            "hcx.cli",
            "serve",
            "--db",
            self.db,
            "--host",
            "127.0.0.1",
            "--port",
            str(self.port),
            "--auth",
            "none",
            "--durability",
            self.durability,
            "--config",
            str(self.config_file()),
        ]
        self.server = DriverRun.start(f"serve-{self.cycle:04d}", self.cycle, command, self.workdir)
        return self.server

    async def wait_listening(self, run: DriverRun, limit_s: float = START_LIMIT_S) -> bool:
        with trio.move_on_after(limit_s):
            while True:
                alive = run.process.poll() is None
                if any(line.startswith(LISTENING) for line in run.read()):
                    return True
                if not alive:
                    return False
                await trio.sleep(0.005)
        return False

    async def wait_exit(self, run: DriverRun, limit_s: float) -> bool:
        with trio.move_on_after(limit_s):
            while run.process.poll() is None:
                await trio.sleep(0.005)
            return True
        return False

    async def wait_for_new_execution(self, run: DriverRun, after_seq: int) -> bool:
        """Until a client is answered with a seq the journal did not hold at the restart."""
        with trio.move_on_after(START_LIMIT_S):
            while self.ledger.max_seq <= after_seq:
                if run.process.poll() is not None:
                    return False
                await trio.sleep(0.002)
            return True
        return False

    def judge(self, name: str) -> JournalCheck | None:
        self.ledger.flush()
        check = judge_journal(
            self.db, self.ledger.answers, self.problems, name, render=render_stored
        )
        if check is not None:
            self.snapshots_verified += check.snapshots_verified
            if check.snapshot_seq:
                self.recoveries_from_snapshot += 1
            self.last_check = check
            self.check_streams(name, check.last_seq)
        return check

    def check_streams(self, name: str, last_seq: int, *, complete: bool = False) -> None:
        """Every ``orders``/``fills`` message a wallet received is the journal's, in the
        journal's order, none missing in between and none twice: what each wallet got is
        a prefix of its events in the journal (all of them, when ``complete``)."""
        if self.actors and last_seq > self.streams_seq:
            start = max(self.streams_seq, min(a.stream_start for a in self.actors))
            starts = {a.wallet: a.stream_start for a in self.actors}
            journal = Journal(self.db, readonly=True)
            try:
                for seq, _ts, _key, blob, _crc, _chain in journal.scan(start):
                    if seq > last_seq:
                        break
                    if seq <= self.streams_seq:
                        continue
                    for data in decode_record(blob).events:
                        channel = CHANNEL_OF.get(data[0])
                        if channel is None:
                            continue
                        event = decode_output_object(data)
                        if seq > starts.get(event.wallet, seq):
                            rendered = comparable(parse_message(to_wire(event)))
                            self.streams.setdefault((event.wallet, channel), []).append(rendered)
            finally:
                journal.close()
            self.streams_seq = last_seq
        for actor in self.actors:
            for channel in STREAM_EVENTS:
                got = actor.seen[channel]
                want = self.streams.get((actor.wallet, channel), [])
                expected = want if complete else want[: len(got)]
                if got != expected:
                    first = first_difference(got, want)
                    self.problems.append(
                        f"{name}: STREAM {actor.wallet} {channel}: received {len(got)} "
                        f"messages, the journal has {len(want)}; first difference at "
                        f"#{first}: got {got[first] if first < len(got) else None} "
                        f"want {want[first] if first < len(want) else None}"
                    )
                self.stream_messages_checked += len(got)

    async def kill_cycle(self) -> None:
        """Let the running server work, SIGKILL it, judge the journal, restart it."""
        run = self.server
        assert run is not None
        rng = self.rng
        early = rng.random() < self.early_kill_chance
        whole_group = rng.random() < self.group_kill_chance
        if early:
            await trio.sleep(rng.uniform(0, self.early_kill_max_s))
        else:
            after = self.last_check.last_seq if self.last_check is not None else 0
            if await self.wait_for_new_execution(run, after):
                self.kills_after_new_work += 1
            elif run.process.poll() is None:
                self.problems.append(f"{run.name}: no new execution within {START_LIMIT_S}s")
            await trio.sleep(rng.uniform(0, self.run_max_s))
        how = "early" if early else "after new work"
        # SIGTERM only once the server is up: in the first ~0.4 s of a start, while Python
        # imports hcx, nothing can catch it yet (the default action kills the process).
        if not early and rng.random() < self.term_chance:
            how += ", SIGTERM"
            run.process.terminate()
            self.terms += 1
            cut = rng.random() < self.term_kill_chance
            if cut:
                how += " cut short"
                await trio.sleep(rng.uniform(0, 0.3))
            elif not await self.wait_exit(run, FINAL_LIMIT_S):
                self.problems.append(f"{run.name}: ignored SIGTERM for {FINAL_LIMIT_S}s")
            killed = run.kill()
            self.kills += killed
            if not killed and run.code != 0:
                self.problems.append(f"{run.name}: SIGTERM gave exit {run.code}: {run.stderr()}")
        elif run.kill(whole_group=whole_group):
            self.kills += 1
            self.early_kills += early
            self.alone_kills += not whole_group
        else:
            self.problems.append(f"{run.name}: hcx serve exited {run.code}: {run.stderr()}")
        in_flight = len(self.ledger.outstanding())
        self.outstanding_at_kills += in_flight
        problems = len(self.problems)
        check = self.judge(run.name)
        if self.report is not None:
            self.report(
                f"{run.name}: stopped {how} ({'group' if whole_group else 'server alone'}), "
                f"{in_flight} in flight, {len(self.ledger.answers)} answered, "
                f"journal {check.last_seq if check else '?'} "
                f"(snapshot {check.snapshot_seq if check else '?'})"
            )
        if not self.keep_outputs and len(self.problems) == problems:
            run.remove_files()
        self.spawn()

    # --- the campaign -------------------------------------------------------------

    async def run(self, cycles: int, seconds: float | None = None) -> None:
        """Set up, then kill the server ``cycles`` times (or until ``seconds`` have passed,
        or a problem shows), then drain and judge the end state."""
        started = time.monotonic()
        first = self.spawn()
        if not await self.wait_listening(first):
            first.kill()
            self.problems.append(f"{first.name}: hcx serve did not start: {first.stderr()}")
            return
        stop = trio.Event()
        try:
            await self._trade_and_kill(cycles, seconds, started, stop)
        finally:
            if self.server is not None and self.server.code is None:
                self.server.kill()
        self.ledger.flush()

    async def _trade_and_kill(
        self, cycles: int, seconds: float | None, started: float, stop: trio.Event
    ) -> None:
        wallets = self.wallets
        async with connect(self.url, wallet=ADMIN, reconnect_timeout=RECONNECT_LIMIT_S) as admin:
            admin_actor = Actor(self, ADMIN, [admin])
            await admin_actor.set_up(random.Random(f"{self.seed}-setup"), wallets)
            clients = [admin]
            async with trio.open_nursery() as nursery:
                for wallet in wallets:
                    own = [
                        await nursery.start(self._client, wallet)
                        for _ in range(self.connections_per_wallet)
                    ]
                    clients.extend(own)
                    actor = Actor(self, wallet, own)
                    await nursery.start(actor.watch)
                    self.actors.append(actor)
                async with trio.open_nursery() as traders:
                    traders.start_soon(
                        admin_actor.administer, random.Random(f"{self.seed}-admin"), stop, wallets
                    )
                    for actor in self.actors:
                        for index, client in enumerate(actor.clients):
                            rng = random.Random(f"{self.seed}-{actor.wallet}-{index}")
                            traders.start_soon(actor.trade, client, rng, stop)
                    while self.kills < cycles and not self.problems:
                        if seconds is not None and time.monotonic() - started >= seconds:
                            break
                        await self.kill_cycle()
                    # The last restart: clients finish what they have in flight on it.
                    if not await self.wait_listening(self.server):  # type: ignore[arg-type]
                        self.problems.append("the last restart did not come up")
                        traders.cancel_scope.cancel()
                    stop.set()
                    traders.cancel_scope.deadline = trio.current_time() + FINAL_LIMIT_S
                if traders.cancel_scope.cancelled_caught and not self.problems:
                    self.problems.append(f"clients did not finish within {FINAL_LIMIT_S}s")
                if not self.problems:
                    self.drained = await self.drain_streams()
                self.commands_resent = sum(c.resent for c in clients)
                nursery.cancel_scope.cancel()
        await self.finish()

    async def drain_streams(self) -> bool:
        """Each wallet places a resting barrier order; wait until its ``OrderUpdate`` and
        every fill up to it have arrived, so the final check can ask for all of them."""
        rng = random.Random(f"{self.seed}-barrier")
        barriers = [await actor.barrier(rng) for actor in self.actors]
        with trio.move_on_after(FINAL_LIMIT_S) as waited:
            while any(
                actor.last_seen["orders"] < seq
                for actor, seq in zip(self.actors, barriers, strict=True)
            ):
                await trio.sleep(0.01)
            last = max(barriers)
            fills = {
                actor.wallet: len(self.journal_events(actor, "fills", last))
                for actor in self.actors
            }
            while any(len(a.seen["fills"]) < fills[a.wallet] for a in self.actors):
                await trio.sleep(0.01)
        if waited.cancelled_caught:
            self.problems.append(f"private channels not delivered within {FINAL_LIMIT_S}s")
        return not waited.cancelled_caught

    def journal_events(self, actor: Actor, channel: str, last_seq: int) -> list[Any]:
        """The journal's ``channel`` events for ``actor`` after its stream start (read
        while the server runs: a reader connection sees committed records only)."""
        journal = Journal(self.db, readonly=True)
        try:
            return [
                data
                for seq, _ts, _key, blob, _crc, _chain in journal.scan(actor.stream_start)
                if seq <= last_seq
                for data in decode_record(blob).events
                if CHANNEL_OF.get(data[0]) == channel
                and decode_output_object(data).wallet == actor.wallet
            ]
        finally:
            journal.close()

    async def _client(self, wallet: str, *, task_status: Any) -> None:
        async with connect(self.url, wallet=wallet, reconnect_timeout=RECONNECT_LIMIT_S) as client:
            task_status.started(client)
            await trio.sleep_forever()

    async def finish(self) -> None:
        """Stop the server gracefully and judge the end state: everything sent was
        answered and is in the journal exactly once; ``hcx replay --verify`` agrees."""
        run = self.server
        assert run is not None
        outstanding = self.ledger.outstanding()
        if outstanding:
            self.problems.append(
                f"{len(outstanding)} requests never answered, e.g. {outstanding[:3]}"
            )
        run.process.terminate()
        if not run.wait_for_exit(FINAL_LIMIT_S):
            self.problems.append(f"{run.name}: ignored SIGTERM for {FINAL_LIMIT_S}s")
            run.kill()
        run.code = run.process.wait()
        if run.code != 0:
            self.problems.append(f"{run.name}: SIGTERM gave exit {run.code}: {run.stderr()}")
        check = self.judge("final")
        self.final_check = check
        if check is not None and self.drained:
            self.check_streams("final", check.last_seq, complete=True)
        if check is not None:
            sent = set(self.ledger.sent)
            if check.keys != sent:
                self.problems.append(
                    f"final: the journal holds {len(check.keys - sent)} requests never sent "
                    f"and lacks {len(sent - check.keys)} that were"
                )
            if check.records != len(sent):
                self.problems.append(f"final: {check.records} records for {len(sent)} requests")
            self.replay_digest = self.replay_verify()
            if self.replay_digest is not None and self.replay_digest != check.digest:
                self.problems.append(
                    f"final: hcx replay --verify digest {self.replay_digest} != {check.digest}"
                )
        if not self.keep_outputs and not self.problems:
            run.remove_files()

    def replay_verify(self) -> str | None:
        """``hcx replay --db DB --verify``; the digest it prints."""
        done = subprocess.run(
            [sys.executable, "-m", "hcx.cli", "replay", "--db", self.db, "--verify"],
            capture_output=True,
            text=True,
            timeout=FINAL_LIMIT_S,
        )
        if done.returncode != 0:
            self.problems.append(
                f"final: hcx replay --verify exited {done.returncode}: {done.stderr}"
            )
            return None
        for line in done.stdout.splitlines():
            if line.startswith("digest: "):
                return line.split(": ", 1)[1]
        self.problems.append(f"final: hcx replay --verify printed no digest: {done.stdout}")
        return None

    # --- reporting ----------------------------------------------------------------

    def summary(self) -> str:
        counts = ProblemCounts.of(self.problems)
        return (
            f"chaos: {self.kills} kills, {len(self.ledger.answers)} commands answered, "
            f"{self.resent} resent, {counts.tail(money=True)}"
        )

    def details(self) -> str:
        final = self.final_check
        kinds = ", ".join(f"{k} {n}" for k, n in sorted(self.ledger.answered_by_kind.items()))
        delivered = sum(len(seen) for actor in self.actors for seen in actor.seen.values())
        return (
            f"({self.cycle} server starts; {self.early_kills} kills within "
            f"{self.early_kill_max_s:g}s of a start, {self.alone_kills} of the server alone, "
            f"{self.terms} SIGTERMs ({self.unavailable_resent} unavailable re-sent); "
            f"{self.outstanding_at_kills} requests in flight at the kills; "
            f"answered: {kinds}; {self.bulks} bulk orders; {self.repeats} deliberate repeats; "
            f"{self.recoveries_from_snapshot} recoveries from a snapshot, "
            f"{self.snapshots_verified} snapshot digests verified; "
            f"{delivered} orders/fills messages delivered, checked after every kill; "
            f"journal {final.records if final else '?'} records)"
        )
