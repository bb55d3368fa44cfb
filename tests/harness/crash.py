"""SIGKILL campaigns against ``journal_driver`` and the checks that judge what survived.

A ``Campaign`` runs the driver on one journal again and again, killing it with SIGKILL
at a seeded random moment: sometimes while it starts, recovers or re-sends, mostly a
random time after it began executing requests the journal had not seen. After every kill
``check`` opens the journal as a restart would and holds it to the promise made to
clients:

* recovery succeeds, both from the newest snapshot and replaying from seq 1 with every
  snapshot's digest checked on the way, and both reach the same state digest;
* every reply the driver printed, in any run, is the journal record with that ``seq``,
  of that wallet and request id, with an identical result (nothing acknowledged is lost);
* no (wallet, request_id) has two records (nothing executed twice across restarts), and
  a request answered again by a later run gets the same ``seq`` and result;
* every row's key is the key the idempotency window computes for its request;
* money is conserved: wallet totals + fees collected == deposited - withdrawn;
* no book is crossed (best bid below best ask).

``judge_journal`` is that check on its own, shared with the campaign against a real
``hcx serve`` (``tests.harness.chaos``), which also runs its server with ``DriverRun``.
Problems are collected as strings rather than raised, so a long campaign reports every
one of them; a test asserts that the list is empty.
"""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import attrs

from hcx.durability.idempotency import request_key
from hcx.durability.journal import Journal
from hcx.durability.records import decode_record
from hcx.durability.replay import Recovered, recover
from hcx.durability.snapshots import digests_by_seq, snapshot_dir
from hcx.engine import EngineConfig
from hcx.engine.invariants import violations
from tests.harness.journal_driver import DEFAULT_SNAPSHOT_EVERY, stream

DRIVER_MODULE = "tests.harness.journal_driver"
# The project root, so that ``python -m tests.harness...`` resolves in the children.
PROJECT_ROOT = Path(__file__).resolve().parents[2]
# Liveness limits only (a driver that hangs fails the campaign); nothing is timed.
START_LIMIT_S = 120.0
FINAL_LIMIT_S = 600.0


@attrs.frozen
class Answer:
    """What a client was told: the ``seq`` and result of its request, in which cycle."""

    seq: int
    result: Any
    cycle: int


@attrs.frozen
class JournalCheck:
    last_seq: int
    records: int
    snapshot_seq: int
    snapshots_verified: int
    digest: str
    keys: frozenset[tuple[str, str]]


@attrs.frozen
class CycleResult:
    cycle: int
    killed: bool
    replies: int
    new_replies: int
    check: JournalCheck | None


class _Tail:
    """The complete lines a running driver has written to its stdout file so far."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.offset = 0
        self.pending = b""

    def read(self) -> list[str]:
        try:
            with open(self.path, "rb") as handle:
                handle.seek(self.offset)
                data = handle.read()
        except FileNotFoundError:
            return []
        self.offset += len(data)
        data = self.pending + data
        *complete, self.pending = data.split(b"\n")
        return [line.decode() for line in complete]


def child_env() -> dict[str, str]:
    """This process's environment with the project root first on ``PYTHONPATH``."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(
        part for part in (str(PROJECT_ROOT), env.get("PYTHONPATH", "")) if part
    )
    return env


@attrs.define
class DriverRun:
    """One process to kill (a driver, or ``hcx serve``), its stdout lines so far, and
    how it ended."""

    name: str
    cycle: int
    process: subprocess.Popen[bytes]
    out: Path
    err: Path
    tail: _Tail
    lines: list[str] = attrs.Factory(list)
    code: int | None = None

    @classmethod
    def start(cls, name: str, cycle: int, command: list[str], workdir: Path) -> DriverRun:
        out, err = workdir / f"{name}.out", workdir / f"{name}.err"
        with open(out, "wb") as stdout, open(err, "wb") as stderr:
            # A session of its own: its process group is the driver and its snapshot
            # children, and nothing else.
            process = subprocess.Popen(
                command, stdout=stdout, stderr=stderr, start_new_session=True, env=child_env()
            )
        return cls(name, cycle, process, out, err, _Tail(out))

    def read(self) -> list[str]:
        new = self.tail.read()
        self.lines.extend(new)
        return new

    def wait_until(self, predicate: Callable[[dict[str, Any]], bool], limit_s: float) -> bool:
        """Poll the output until a line satisfies ``predicate``; False if the driver
        ended first or ``limit_s`` passed."""
        deadline = time.monotonic() + limit_s
        while True:
            alive = self.process.poll() is None
            for line in self.read():
                data = _parse(line)
                if data is not None and predicate(data):
                    return True
            if not alive or time.monotonic() > deadline:
                return False
            time.sleep(0.002)

    def wait_for_new_execution(self, limit_s: float = START_LIMIT_S) -> bool:
        """Until the driver answers a request with a seq the journal did not hold."""
        ready: list[int] = []

        def new_execution(data: dict[str, Any]) -> bool:
            if data.get("ready"):
                ready.append(int(data["last_seq"]))
            return bool(ready) and int(data.get("seq", 0)) > ready[0]

        return self.wait_until(new_execution, limit_s)

    def wait_for_exit(self, limit_s: float) -> bool:
        try:
            self.process.wait(timeout=limit_s)
        except subprocess.TimeoutExpired:
            return False
        return True

    def kill(self, *, whole_group: bool = True) -> bool:
        """SIGKILL the driver (and its process group) unless it already ended; True if
        it was killed. Always reaps it and reads the rest of its output."""
        killed = self.process.poll() is None
        if killed:
            if whole_group:
                os.killpg(self.process.pid, signal.SIGKILL)
            else:
                os.kill(self.process.pid, signal.SIGKILL)
        self.code = self.process.wait()
        self.read()
        return killed

    def stderr(self) -> str:
        return _last_lines(self.err)

    def remove_files(self) -> None:
        self.out.unlink(missing_ok=True)
        self.err.unlink(missing_ok=True)


@attrs.define
class Campaign:
    db: str
    seed: int
    count: int
    workdir: Path
    concurrency: int = 8
    snapshot_every: int = DEFAULT_SNAPSHOT_EVERY
    # Kill modes: the chance of a kill at a random moment after spawn (start-up, recovery,
    # re-sending), else a random delay after the first new execution.
    early_kill_chance: float = 0.15
    early_kill_max_s: float = 0.6
    run_max_s: float = 0.25
    group_kill_chance: float = 0.75
    commit_delay_ms: float = 0.0
    # When a run gets through the whole stream, the stream grows (a seed's stream of n
    # requests is a prefix of its longer ones), so later kills still land on new work.
    grow_by: int = 2_000
    keep_outputs: bool = False
    answers: dict[tuple[str, str], Answer] = attrs.Factory(dict)
    problems: list[str] = attrs.Factory(list)
    replies_checked: int = 0
    kills: int = 0
    clean_exits: int = 0
    cycles: int = 0
    snapshots_verified: int = 0
    recoveries_from_snapshot: int = 0
    last_check: JournalCheck | None = None

    # --- running the driver -------------------------------------------------------

    def spawn(
        self,
        name: str,
        *,
        snapshot_every: int | None = None,
        commit_delay_ms: float | None = None,
    ) -> DriverRun:
        """Start the driver on the campaign's journal in a session of its own."""
        every = self.snapshot_every if snapshot_every is None else snapshot_every
        delay = self.commit_delay_ms if commit_delay_ms is None else commit_delay_ms
        command = [
            sys.executable,
            "-m",
            DRIVER_MODULE,
            "--db",
            self.db,
            "--seed",
            str(self.seed),
            "--count",
            str(self.count),
            "--concurrency",
            str(self.concurrency),
            "--snapshot-every",
            str(every),
        ]
        if delay:
            command += ["--commit-delay-ms", str(delay)]
        self.cycles += 1
        return DriverRun.start(f"{name}-{self.cycles:04d}", self.cycles, command, self.workdir)

    def run_cycle(self, rng: random.Random) -> CycleResult:
        """Start the driver, SIGKILL it at a random moment, then check the journal.

        Most kills take the driver's whole process group (a crash of the machine, or of
        the container, takes snapshot children too); the others kill the driver alone
        and leave a snapshot child running into the next cycle.
        """
        early = rng.random() < self.early_kill_chance
        delay = rng.uniform(0, self.early_kill_max_s if early else self.run_max_s)
        whole_group = rng.random() < self.group_kill_chance
        run = self.spawn("cycle")
        if not early and not run.wait_for_new_execution() and run.process.poll() is None:
            self.problems.append(f"{run.name}: no new execution within {START_LIMIT_S}s")
        time.sleep(delay)
        return self.finish(run, whole_group=whole_group)

    def finish(self, run: DriverRun, *, whole_group: bool = True) -> CycleResult:
        """Kill ``run`` unless it already ended, take its replies and check the journal."""
        killed = run.kill(whole_group=whole_group)
        if killed:
            self.kills += 1
        elif run.code == 0:
            self.clean_exits += 1
        else:
            self.problems.append(f"{run.name}: driver exited {run.code}: {run.stderr()}")
        replies, new = self.take_lines(run.lines, run.cycle, run.name)
        check = self.check(run.name)
        if check is not None and check.records >= self.count:
            self.count += self.grow_by
        if not self.keep_outputs and not self.problems:
            run.remove_files()
        return CycleResult(run.cycle, killed, replies, new, check)

    def final_run(self) -> CycleResult:
        """Run the driver to completion and check that the whole stream ran exactly once."""
        count = self.count
        run = self.spawn("final")
        if not run.wait_for_exit(FINAL_LIMIT_S):
            self.problems.append(f"{run.name}: did not finish within {FINAL_LIMIT_S}s")
        result = self.finish(run)
        self.count = count  # the stream this run completed, not a grown one
        if run.code == 0 and (not run.lines or _parse(run.lines[-1]) != {"done": True}):
            self.problems.append(f"{run.name}: clean exit without its final done line")
        expected = {(r.wallet, r.request_id) for r in stream(self.seed, count)}
        answered_now = {
            (d["wallet"], d["request_id"])
            for d in (_parse(line) for line in run.lines)
            if d is not None and "seq" in d
        }
        if answered_now != expected:
            missing = len(expected - answered_now)
            self.problems.append(f"{run.name}: {missing} stream requests were not answered")
        check = result.check
        if check is not None and check.keys != expected:
            self.problems.append(
                f"{run.name}: journal holds {len(check.keys - expected)} unknown and lacks "
                f"{len(expected - check.keys)} stream requests"
            )
        if check is not None and check.records != len(expected):
            self.problems.append(
                f"{run.name}: {check.records} records for {len(expected)} distinct requests"
            )
        return result

    def take_lines(self, lines: list[str], cycle: int, name: str) -> tuple[int, int]:
        """Record the driver's replies; a repeat must equal its first answer."""
        replies = new = 0
        for line in lines:
            data = _parse(line)
            if data is None:
                self.problems.append(f"{name}: unreadable output line {line[:120]!r}")
                continue
            if "refusal" in data:
                self.problems.append(
                    f"{name}: {data['request_id']} refused: {data['refusal']} {data['message']}"
                )
                continue
            if "seq" not in data:
                continue
            replies += 1
            key = (data["wallet"], data["request_id"])
            answer = Answer(int(data["seq"]), data["result"], cycle)
            first = self.answers.get(key)
            if first is None:
                self.answers[key] = answer
                new += 1
            elif (first.seq, first.result) != (answer.seq, answer.result):
                self.problems.append(
                    f"{name}: {key} answered seq {answer.seq} {answer.result} after seq "
                    f"{first.seq} {first.result} in cycle {first.cycle}"
                )
        self.replies_checked += replies
        return replies, new

    # --- judging the journal ------------------------------------------------------

    def check(self, name: str = "check") -> JournalCheck | None:
        """Recover the journal as a restart would and hold it to every acknowledged reply."""
        result = judge_journal(self.db, self.answers, self.problems, name)
        if result is not None:
            self.snapshots_verified += result.snapshots_verified
            if result.snapshot_seq:
                self.recoveries_from_snapshot += 1
            self.last_check = result
        return result

    # --- reporting ----------------------------------------------------------------

    def summary(self) -> str:
        counts = ProblemCounts.of(self.problems)
        return (
            f"crash campaign: {self.kills} kills, {self.replies_checked} replies checked, "
            f"{counts.tail()}"
        )


@attrs.frozen
class ProblemCounts:
    """A campaign's problems by kind, for its summary line."""

    lost: int
    duplicated: int
    money: int
    digest_failures: int
    other: int

    @classmethod
    def of(cls, problems: list[str]) -> ProblemCounts:
        lost = sum(1 for p in problems if "LOST" in p or "acknowledged as" in p)
        duplicated = sum(1 for p in problems if "executed twice" in p or "answered seq" in p)
        money = sum(1 for p in problems if "money not conserved" in p)
        digest = sum(1 for p in problems if "recovery failed" in p or "replay differ" in p)
        other = len(problems) - lost - duplicated - money - digest
        return cls(lost, duplicated, money, digest, other)

    def tail(self, *, money: bool = False) -> str:
        """``lost=0, duplicated=0[, money ok], digest ok[, N other problems]``."""
        parts = [f"lost={self.lost}", f"duplicated={self.duplicated}"]
        if money:
            parts.append("money ok" if not self.money else f"money NOT conserved ({self.money})")
        parts.append("digest ok" if not self.digest_failures else "digest FAILED")
        other = self.other if money else self.other + self.money
        if other:
            parts.append(f"{other} other problems")
        return ", ".join(parts)


def judge_journal(
    db: str,
    answers: Mapping[tuple[str, str], Answer],
    problems: list[str],
    name: str = "check",
    *,
    render: Callable[[list[Any]], Any] | None = None,
) -> JournalCheck | None:
    """Recover the journal at ``db`` as a restart would and hold it to every answer.

    ``answers`` maps (wallet, request_id) to what the client was told; ``render`` turns
    a stored result (``[TYPE, *fields]``) into the form the answers hold (default: as
    stored). Problems are appended to ``problems``, each prefixed with ``name``; the
    result is None if recovery failed. The process writing the journal must be dead (or
    stopped). The checks: ``check_recovery``, ``check_records``, ``check_answers`` and
    the engine's invariants.
    """
    found: list[str] = []
    journal = Journal(db)
    try:
        recovered = check_recovery(journal, snapshot_dir(db), found)
        if recovered is not None:
            fast, full, verified = recovered
            records, keys = check_records(journal, found)
            check_answers(records, answers, render, found)
            found.extend(violations(full.engine.state))
    finally:
        journal.close()
    problems.extend(f"{name}: {problem}" for problem in found)
    if recovered is None:
        return None
    return JournalCheck(
        full.last_seq, len(records), fast.snapshot_seq, verified, full.engine.digest(), keys
    )


def check_recovery(
    journal: Journal, snapshots: Path, problems: list[str]
) -> tuple[Recovered, Recovered, int] | None:
    """Recovery from the newest snapshot and from seq 1 (every snapshot's digest checked)
    must both succeed and agree: (fast, full, snapshots verified), or None."""

    def chain_at(seq: int) -> bytes | None:
        row = journal.read(seq)
        return row[5] if row is not None else None

    try:
        fast = recover(journal, snapshots, EngineConfig())
        full = recover(journal, snapshots, EngineConfig(), verify_from_start=True)
    except Exception as exc:
        problems.append(f"recovery failed: {exc!r}")
        return None
    if fast.engine.digest() != full.engine.digest():
        problems.append("snapshot+tail and full replay differ")
    return fast, full, len(digests_by_seq(snapshots, chain_at))


def check_records(
    journal: Journal, problems: list[str]
) -> tuple[dict[int, tuple[str, str, Any]], frozenset[tuple[str, str]]]:
    """No (wallet, request_id) has two records and every row's key is its request's:
    the records by seq as (wallet, request_id, stored result), and the requests."""
    records: dict[int, tuple[str, str, Any]] = {}
    keys: dict[tuple[str, str], int] = {}
    for seq, _ts, key, blob, _crc, _chain in journal.scan():
        record = decode_record(blob)
        request = (record.wallet, record.request_id)
        if request in keys:
            problems.append(f"{request} executed twice: seq {keys[request]} and {seq}")
        keys[request] = seq
        if key != request_key(*request):
            problems.append(f"seq {seq} has a key its request does not hash to")
        records[seq] = (record.wallet, record.request_id, record.result)
    return records, frozenset(keys)


def check_answers(
    records: Mapping[int, tuple[str, str, Any]],
    answers: Mapping[tuple[str, str], Answer],
    render: Callable[[list[Any]], Any] | None,
    problems: list[str],
) -> None:
    """Every answer a client got is the journal's record at its seq: same wallet, request
    and result (nothing acknowledged is lost)."""
    for (wallet, request_id), answer in answers.items():
        stored = records.get(answer.seq)
        if stored is None:
            problems.append(
                f"LOST seq {answer.seq} ({wallet}, {request_id}) was "
                f"acknowledged in cycle {answer.cycle} but is not in the journal"
            )
            continue
        result = stored[2] if render is None else render(stored[2])
        if (stored[0], stored[1], result) != (wallet, request_id, answer.result):
            problems.append(
                f"seq {answer.seq} acknowledged as ({wallet}, {request_id}) "
                f"{answer.result} but the journal holds {stored[:2]} {result}"
            )


def _parse(line: str) -> dict[str, Any] | None:
    try:
        data = json.loads(line)
    except ValueError:
        return None
    return data if isinstance(data, dict) else None


def _last_lines(path: Path, count: int = 5) -> str:
    try:
        text = path.read_text(errors="replace")
    except OSError:
        return "(no stderr)"
    return " | ".join(text.strip().splitlines()[-count:]) or "(empty stderr)"
