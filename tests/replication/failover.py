"""A failover campaign: a replicated primary (``repl_driver``) SIGKILLed under load, a
standby (``hcx standby --promote-after-ms``) that takes over, and the journal judged.

Each cycle kills the primary at a random moment after it executed new requests; the
standby must promote itself (its ``hcx serve`` prints its listening line) and answer a
first command (``first_command_answer``), is then stopped, and its journal is judged
with ``judge_journal`` against every answer any primary printed: none lost, none
executed twice, money conserved, full replay with every snapshot digest verified. The
next cycle swaps roles: the driver runs as primary on the promoted journal (re-sending
the whole stream, so every earlier answer must come back as stored), and the old primary
rejoins as the standby (its unacknowledged tail set aside). With ``resend_last`` a run
re-sends only the last that many requests (a long campaign's cycles then cost about the
same; the final run still answers the whole stream). A promoted standby must hand its
live state to its server (it says so in its log) rather than recover again. Each run's
output file is deleted once read (a long campaign's would fill the disk). Shared by the
default test and ``scripts/failover_campaign.py``.
"""

from __future__ import annotations

import json
import random
import signal
import subprocess
import sys
import time
import uuid
from contextlib import suppress
from datetime import datetime
from pathlib import Path

import attrs

from tests.harness.crash import Campaign, DriverRun
from tests.harness.journal_driver import SERIES, series_symbol

DRIVER = str(Path(__file__).with_name("repl_driver.py"))
# What a promoted standby's server logs when it goes on with the follower's state.
HANDED_OVER = "took over the live state"
LIMIT_S = 60.0


@attrs.define
class FailoverCampaign:
    nats_url: str
    workdir: Path
    seed: int = 20261204
    count: int = 4_000
    promote_after_ms: int = 1_000
    primary: str = ""
    standby: str = ""
    failovers: int = 0
    takeover_s: list[float] = attrs.Factory(list)
    # SIGKILL -> the promoted standby's answer to a first command (``probe``).
    accepted_s: list[float] = attrs.Factory(list)
    # The standby's own log: lease taken -> its server listening (the promotion itself).
    promotion_s: list[float] = attrs.Factory(list)
    probe: bool = True
    resend_last: int | None = None
    campaign: Campaign | None = None

    def __attrs_post_init__(self) -> None:
        self.primary = str(self.workdir / "a.db")
        self.standby = str(self.workdir / "b.db")
        self.campaign = Campaign(
            db=self.standby, seed=self.seed, count=self.count, workdir=self.workdir
        )

    @property
    def problems(self) -> list[str]:
        assert self.campaign is not None
        return self.campaign.problems

    def spawn_primary(self, name: str, *, resend_all: bool = False) -> DriverRun:
        assert self.campaign is not None
        self.campaign.cycles += 1
        skip = []
        if self.resend_last is not None and not resend_all:
            skip = ["--from-index", str(max(0, self.count - self.resend_last))]
        command = [
            sys.executable,
            DRIVER,
            "--nats",
            self.nats_url,
            "--db",
            self.primary,
            "--seed",
            str(self.seed),
            "--count",
            str(self.count),
            "--concurrency",
            "4",
            "--snapshot-every",
            "500",
            *skip,
        ]
        return DriverRun.start(name, self.campaign.cycles, command, self.workdir)

    def spawn_standby(self, name: str) -> DriverRun:
        command = [
            sys.executable,
            "-m",
            "hcx.cli",
            "standby",
            "--db",
            self.standby,
            "--nats",
            self.nats_url,
            "--port",
            "0",
            "--auth",
            "none",
            "--replication",
            "sync",
            "--promote-after-ms",
            str(self.promote_after_ms),
        ]
        assert self.campaign is not None
        return DriverRun.start(name, self.campaign.cycles, command, self.workdir)

    def cycle(self, rng: random.Random) -> None:
        """One failover: kill the primary, the standby takes over, judge, swap roles."""
        campaign = self.campaign
        assert campaign is not None
        # The primary first (holding the lease), then the standby: a standby that found
        # no lease being renewed would rightly take over at once.
        primary = self.spawn_primary(f"primary-{self.failovers}")
        if not primary.wait_for_new_execution(LIMIT_S):
            self.problems.append(f"{primary.name}: no new execution: {primary.stderr()}")
        standby = self.spawn_standby(f"standby-{self.failovers}")
        if not wait_for_text(standby, "hcx standby following", LIMIT_S):
            self.problems.append(f"{standby.name}: did not start: {standby.stderr()}")
        time.sleep(rng.uniform(0.0, 0.5))
        primary.kill(whole_group=True)
        killed_at = time.monotonic()
        if not wait_for_text(standby, "hcx listening on", LIMIT_S):
            self.problems.append(f"{standby.name}: did not take over: {standby.stderr()}")
        self.takeover_s.append(time.monotonic() - killed_at)
        if self.probe:
            url = next((line.split()[-1] for line in standby.lines if "listening on" in line), "")
            answer = first_command_answer(url) if url else "no listening line"
            if answer != "OrderResult":
                self.problems.append(f"{standby.name}: the probe command got {answer}")
            self.accepted_s.append(time.monotonic() - killed_at)
        standby.process.send_signal(signal.SIGTERM)
        if not standby.wait_for_exit(LIMIT_S):
            standby.kill()
        if standby.process.returncode != 0:
            self.problems.append(f"{standby.name}: exited {standby.process.returncode}")
        log = standby.err.read_text()
        if HANDED_OVER not in log:
            self.problems.append(f"{standby.name}: its server recovered instead of taking over")
        promotion = _promotion_s(log)
        if promotion is not None:
            self.promotion_s.append(promotion)
        campaign.take_lines(primary.lines, primary.cycle, primary.name)
        _discard_output(primary, standby)
        check = _judge(campaign, self.standby, primary.name)
        self.failovers += 1
        # Roles swap: the promoted journal is the primary's from now on.
        self.primary, self.standby = self.standby, self.primary
        if check is not None and check.records >= self.count:
            self.count += 2_000

    def final(self) -> None:
        """A last run on the current primary's journal answers the whole stream once."""
        campaign = self.campaign
        assert campaign is not None
        run = self.spawn_primary("final", resend_all=True)
        if not run.wait_for_exit(600):
            self.problems.append("final run did not finish")
        run.kill()
        if run.code != 0:
            self.problems.append(f"final run exited {run.code}: {run.stderr()}")
        campaign.take_lines(run.lines, run.cycle, run.name)
        _discard_output(run)
        check = _judge(campaign, self.primary, "final")
        answered = {line for line in run.lines if '"seq"' in line}
        if len(answered) != self.count:
            self.problems.append(f"final: {len(answered)} answers for {self.count} requests")
        if check is not None and check.records != self.count:
            self.problems.append(f"final: {check.records} records for {self.count} requests")

    def replay_verify(self, db: str) -> int:
        return subprocess.run(
            [sys.executable, "-m", "hcx.cli", "replay", "--db", db, "--verify"],
            capture_output=True,
            check=False,
        ).returncode


def _promotion_s(log: str) -> float | None:
    """Seconds from the standby's "lease taken" line to its server's listening line."""
    times: dict[str, datetime] = {}
    for line in log.splitlines():
        for mark in ("lease taken by", "hcx listening on"):
            if mark in line and mark not in times:
                with suppress(ValueError):
                    times[mark] = datetime.strptime(line[:23], "%Y-%m-%d %H:%M:%S,%f")
    if len(times) < 2:
        return None
    return (times["hcx listening on"] - times["lease taken by"]).total_seconds()


def _discard_output(*runs: DriverRun) -> None:
    """Each run's stdout (every answer, read into ``lines`` already); stderr stays."""
    for run in runs:
        run.out.unlink(missing_ok=True)


def _judge(campaign: Campaign, db: str, name: str):  # type: ignore[no-untyped-def]
    from tests.harness.crash import judge_journal

    return judge_journal(db, campaign.answers, campaign.problems, name)


def first_command_answer(url: str) -> str:
    """Send the promoted standby one command, as a client would the moment it listens,
    and return the answer's type. The probe is a ``PlaceOrder`` off the tick: the
    sequencer takes it and refuses it early (an ``OrderResult``, rejected), so it is
    answered by the new primary's command path but leaves the judged journal alone."""
    from websockets.sync.client import connect

    strike, option, mid = SERIES[0]
    place = {
        "type": "PlaceOrder",
        "id": 2,
        "request_id": str(uuid.uuid4()),
        "ts": time.time_ns() // 1_000_000,
        "symbol": series_symbol(strike, option),
        "side": "buy",
        "price": f"{mid}.05",
        "size": "1",
    }
    with connect(url, open_timeout=10) as ws:
        ws.send(json.dumps({"type": "Authenticate", "id": 1, "wallet": "probe"}))
        ws.send(json.dumps(place))
        while True:
            answer = json.loads(ws.recv(timeout=10))
            if answer.get("id") == 2 or answer.get("request_id") == place["request_id"]:
                return str(answer.get("type")) + (
                    f" {answer['code']}" if answer.get("type") == "Error" else ""
                )


def wait_for_text(run: DriverRun, text: str, limit_s: float) -> bool:
    deadline = time.monotonic() + limit_s
    seen = [line for line in run.lines if text in line]
    while not seen:
        if run.process.poll() is not None or time.monotonic() > deadline:
            run.read()
            return any(text in line for line in run.lines)
        seen = [line for line in run.read() if text in line]
        time.sleep(0.005)
    return True
