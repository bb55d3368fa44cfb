"""Fault-injection runs: drive an exchange over ``FaultyVFS`` until a fault kills it, then
judge what was released against what the journal recovers.

``run_until_fault`` opens an exchange on a journal file through a ``FaultyVFS``, submits
the admin setup of ``journal_driver.stream``, arms a ``FaultPlan`` and lets concurrent
submitters send the trading requests until the exchange dies (or the stream ends). It
records every reply a submitter received, every entry a publisher was handed, and, by
wrapping the writer's commit, the last seq whose COMMIT returned.

``verify`` then reads the file back with the ordinary VFS: the journal must replay, every
released reply and publication must be in it with the same content, nothing released may
lie beyond the last successful commit, no request may be journaled twice, and money must
be conserved. ``retry_all`` reopens the exchange and re-sends every request that was sent
(same ids, same ``client_ts``): each answered one must get its original answer back, and
afterwards every request is in the journal exactly once.

Every failed expectation is collected in ``Verdict.problems`` (the tests assert it is
empty; the campaign counts it).
"""

from __future__ import annotations

import random
import time
from collections import Counter
from collections.abc import Sequence
from pathlib import Path

import attrs
import trio

from hcx.durability.errors import DurabilityError
from hcx.durability.journal import Journal, Row
from hcx.durability.records import decode_output_object, decode_record
from hcx.durability.replay import engine_config, recover
from hcx.durability.snapshots import snapshot_dir
from hcx.engine import Engine, EngineConfig
from hcx.sequencing import JournalEntry, Refusal, Reply
from hcx.service.config import DurabilityMode, ServiceConfig
from hcx.service.supervisor import open_exchange
from tests.harness.faulty_vfs import FaultPlan, FaultyVFS
from tests.harness.journal_driver import Request, setup_length, stream


def now_ms() -> int:
    return time.time_ns() // 1_000_000


class CommitTracker:
    """The writer's commit, wrapped to record which seqs are durable and which failed."""

    def __init__(self) -> None:
        self.journal: Journal | None = None
        self.committed_through = 0
        self.failed_from: int | None = None
        self.commits = 0

    def __call__(self, rows: Sequence[Row]) -> None:
        assert self.journal is not None, "bind the tracker to the exchange's journal first"
        try:
            self.journal.append(rows)
        except BaseException:
            if self.failed_from is None:
                self.failed_from = rows[0][0]
            raise
        self.commits += 1
        self.committed_through = rows[-1][0]


@attrs.define
class Answer:
    request: Request
    client_ts: int
    answer: Reply | Refusal
    # The last durable seq when the answer arrived, and whether a fault had fired.
    committed_through: int
    after_fault: bool


@attrs.define
class Run:
    db: str
    mode: DurabilityMode
    plan: FaultPlan
    vfs: FaultyVFS
    tracker: CommitTracker
    # Every request handed to ``submit``, with its client_ts, in order.
    sent: list[tuple[Request, int]] = attrs.Factory(list)
    answers: list[Answer] = attrs.Factory(list)
    # seq -> (record bytes, chain) of every published entry.
    published: dict[int, tuple[bytes, bytes]] = attrs.Factory(dict)
    published_late: list[int] = attrs.Factory(list)
    error: BaseException | None = None
    body_finished: bool = False

    @property
    def replies(self) -> list[Answer]:
        return [a for a in self.answers if isinstance(a.answer, Reply)]


@attrs.define
class Verdict:
    replies_checked: int = 0
    published_checked: int = 0
    journal_records: int = 0
    lost: int = 0
    duplicated: int = 0
    problems: list[str] = attrs.Factory(list)

    def fail(self, problem: str) -> None:
        self.problems.append(problem)


def service_config(
    db: str,
    mode: DurabilityMode,
    *,
    checkpoint_interval_s: float = 0.005,
    snapshot_every: int = 100_000,
) -> ServiceConfig:
    return ServiceConfig(
        db=db,
        durability=mode,
        checkpoint_interval_s=checkpoint_interval_s,
        snapshot_every=snapshot_every,
        journal_capacity=4,
        max_batch=64,
    )


async def run_until_fault(
    db: str,
    mode: DurabilityMode,
    plan: FaultPlan,
    *,
    seed: int,
    count: int = 600,
    concurrency: int = 6,
    vfs: FaultyVFS | None = None,
    config: ServiceConfig | None = None,
    tracker: CommitTracker | None = None,
    time_limit_s: float = 30.0,
) -> Run:
    """Drive the exchange until the armed fault ends it; a ``DurabilityError`` is caught
    into ``Run.error``, anything else propagates (a fault must leave as itself)."""
    vfs = vfs or FaultyVFS()
    tracker = tracker or CommitTracker()
    run = Run(db, mode, plan, vfs, tracker)
    requests = stream(seed, count)
    setup, trading = requests[: setup_length()], requests[setup_length() :]
    config = config or service_config(db, mode)

    def publish(entries: list[JournalEntry]) -> None:
        for entry in entries:
            run.published[entry.seq] = (entry.record, entry.chain)
            if entry.seq > tracker.committed_through:
                run.published_late.append(entry.seq)

    def record(request: Request, client_ts: int, answer: Reply | Refusal) -> None:
        run.answers.append(Answer(request, client_ts, answer, tracker.committed_through, vfs.fired))

    async def submitter(share: list[Request], rng: random.Random) -> None:
        position = 0
        while position < len(share):
            if rng.random() < 0.3:
                chunk = share[position : position + rng.randint(2, 8)]
                stamped = [(r, now_ms()) for r in chunk]
                run.sent.extend(stamped)
                answers = await exchange.submit_many(
                    [(r.wallet, r.request_id, ts, r.command) for r, ts in stamped]
                )
                for (request, ts), answer in zip(stamped, answers, strict=True):
                    record(request, ts, answer)
            else:
                chunk = share[position : position + 1]
                ts = now_ms()
                run.sent.append((chunk[0], ts))
                record(
                    chunk[0],
                    ts,
                    await exchange.submit(
                        chunk[0].wallet, chunk[0].request_id, ts, chunk[0].command
                    ),
                )
            position += len(chunk)

    try:
        with trio.fail_after(time_limit_s):
            async with open_exchange(config, vfs=vfs.name, commit_hook=tracker) as exchange:
                tracker.journal = exchange.writer.journal
                exchange.add_publisher(publish)
                stamped = [(r, now_ms()) for r in setup]
                run.sent.extend(stamped)
                answers = await exchange.submit_many(
                    [(r.wallet, r.request_id, ts, r.command) for r, ts in stamped]
                )
                for (request, ts), answer in zip(stamped, answers, strict=True):
                    record(request, ts, answer)
                vfs.arm(plan)
                async with trio.open_nursery() as nursery:
                    for task in range(concurrency):
                        nursery.start_soon(
                            submitter, trading[task::concurrency], random.Random(seed * 1000 + task)
                        )
                run.body_finished = True
    except DurabilityError as exc:
        run.error = exc
    return run


def verify(run: Run) -> Verdict:
    """Judge a finished run against the journal file, read with the ordinary VFS."""
    verdict = Verdict()
    tracker = run.tracker
    if run.error is not None and tracker.failed_from is not None:
        limit = tracker.failed_from - 1
    else:
        limit = tracker.committed_through
    for answer in run.replies:
        reply = answer.answer
        assert isinstance(reply, Reply)
        if reply.seq > answer.committed_through:
            verdict.fail(f"reply seq {reply.seq} arrived before its commit")
        if reply.seq > limit:
            verdict.fail(f"reply seq {reply.seq} released beyond the last good commit {limit}")
    for seq in run.published_late:
        verdict.fail(f"entry seq {seq} published before its commit")
    for seq in run.published:
        if seq > limit:
            verdict.fail(f"entry seq {seq} published beyond the last good commit {limit}")

    journal = Journal(run.db)
    try:
        try:
            recovered = recover(journal, snapshot_dir(run.db), run_engine_config(journal))
        except Exception as exc:
            verdict.fail(f"recovery failed: {exc!r}")
            return verdict
        verdict.journal_records = recovered.last_seq
        _check_against_journal(run, journal, verdict)
        _check_once_each(journal, verdict)
        _check_money(recovered.engine, verdict)
        scratch = recover(journal, None, run_engine_config(journal))
        if scratch.engine.digest() != recovered.engine.digest():
            verdict.fail("state recovered with snapshots differs from a replay from seq 1")
    finally:
        journal.close()
    return verdict


def run_engine_config(journal: Journal) -> EngineConfig:
    return engine_config(journal, EngineConfig())


def _check_against_journal(run: Run, journal: Journal, verdict: Verdict) -> None:
    for answer in run.replies:
        reply = answer.answer
        assert isinstance(reply, Reply)
        verdict.replies_checked += 1
        row = journal.read(reply.seq)
        if row is None:
            verdict.lost += 1
            verdict.fail(f"released reply seq {reply.seq} is not in the journal")
            continue
        record = decode_record(row[3])
        request = answer.request
        if (record.wallet, record.request_id) != (request.wallet, request.request_id):
            verdict.lost += 1
            verdict.fail(
                f"seq {reply.seq} holds {record.wallet}/{record.request_id}, "
                f"but {request.wallet}/{request.request_id} was told it is there"
            )
            continue
        if decode_output_object(record.result) != reply.result:
            verdict.lost += 1
            verdict.fail(f"seq {reply.seq}: journaled result differs from the released one")
    for seq, (blob, chain) in sorted(run.published.items()):
        verdict.published_checked += 1
        row = journal.read(seq)
        if row is None or row[3] != blob or row[5] != chain:
            verdict.lost += 1
            verdict.fail(f"published entry seq {seq} is missing or differs in the journal")


def _check_once_each(journal: Journal, verdict: Verdict) -> None:
    seen: Counter[tuple[str, str]] = Counter()
    for row in journal.scan():
        record = decode_record(row[3])
        seen[(record.wallet, record.request_id)] += 1
    for key, times in seen.items():
        if times > 1:
            verdict.duplicated += times - 1
            verdict.fail(f"request {key} is journaled {times} times")


def _check_money(engine: Engine, verdict: Verdict) -> None:
    state = engine.state
    held = sum(wallet.total for wallet in state.wallets.values()) + state.fees_collected
    if held != state.deposited - state.withdrawn:
        verdict.fail(
            f"money not conserved: wallets + fees = {held}, "
            f"deposited - withdrawn = {state.deposited - state.withdrawn}"
        )


async def retry_all(run: Run, verdict: Verdict, *, config: ServiceConfig | None = None) -> None:
    """Reopen normally and re-send every request that was sent, with its original ts."""
    config = config or service_config(run.db, run.mode)
    answered = {
        (a.request.wallet, a.request.request_id): a.answer
        for a in run.answers
        if isinstance(a.answer, Reply)
    }
    async with open_exchange(config) as exchange:
        again = await exchange.submit_many(
            [(r.wallet, r.request_id, ts, r.command) for r, ts in run.sent]
        )
    for (request, _), answer in zip(run.sent, again, strict=True):
        first = answered.get((request.wallet, request.request_id))
        if not isinstance(answer, Reply):
            verdict.fail(f"retry of {request.request_id} refused: {answer}")
        elif first is not None and answer != first:
            verdict.duplicated += 1
            verdict.fail(f"retry of {request.request_id} answered {answer}, first {first}")
    journal = Journal(run.db)
    try:
        _check_once_each(journal, verdict)
        recovered = recover(journal, snapshot_dir(run.db), run_engine_config(journal))
        _check_money(recovered.engine, verdict)
    finally:
        journal.close()


def remove_journal(db: str) -> None:
    for suffix in ("", "-wal", "-shm", "-journal"):
        Path(db + suffix).unlink(missing_ok=True)
    snapshots = snapshot_dir(db)
    if snapshots.is_dir():
        for path in snapshots.iterdir():
            path.unlink()
        snapshots.rmdir()
