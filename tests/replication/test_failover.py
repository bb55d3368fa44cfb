"""Failover under load, with real processes and real SIGKILLs (see ``failover.py``): in
``sync`` mode no acknowledged answer is lost, nothing executes twice, money is conserved
and the promoted journal replays with every digest verified. ``HCX_FAILOVER_CYCLES``
changes the count; ``scripts/failover_campaign.py`` runs long campaigns."""

from __future__ import annotations

import os
import random
import signal
import sys
import time
from pathlib import Path

from hcx.cli import EXIT_DEPOSED
from hcx.durability.journal import Journal
from tests.harness.crash import DriverRun, judge_journal
from tests.replication.failover import LIMIT_S, FailoverCampaign, wait_for_text
from tests.replication.natsd import NatsServer
from tests.replication.streamread import journal_rows, stream_rows

CYCLES = int(os.environ.get("HCX_FAILOVER_CYCLES", "3"))


def test_sigkilled_primary_fails_over_losing_nothing_acknowledged(
    tmp_path: Path, nats_server: NatsServer
) -> None:
    campaign = FailoverCampaign(nats_server.url, tmp_path)
    rng = random.Random(campaign.seed)
    for _ in range(CYCLES):
        campaign.cycle(rng)
        assert not campaign.problems, "\n".join(campaign.problems[:20])
    assert campaign.failovers == CYCLES
    assert campaign.campaign is not None and len(campaign.campaign.answers) > 0
    campaign.final()
    assert not campaign.problems, "\n".join(campaign.problems[:20])
    assert campaign.replay_verify(campaign.primary) == 0


def test_a_deposed_primary_appends_nothing_and_exits(
    tmp_path: Path, nats_server: NatsServer
) -> None:
    """SIGSTOP the primary past its lease: the standby takes over; on SIGCONT the old
    primary finds itself fenced off and exits 7. Every answer it ever printed (some
    acknowledged just before the stop are printed after it) is in the promoted journal,
    and the stream holds exactly that journal."""
    campaign = FailoverCampaign(nats_server.url, tmp_path, count=200_000)
    primary = campaign.spawn_primary("stopped-primary")
    standby = None
    try:
        assert primary.wait_for_new_execution(LIMIT_S), primary.stderr()
        standby = campaign.spawn_standby("standby")
        assert wait_for_text(standby, "hcx standby following", LIMIT_S), standby.stderr()
        time.sleep(0.3)
        os.kill(primary.process.pid, signal.SIGSTOP)
        assert wait_for_text(standby, "hcx listening on", LIMIT_S), standby.stderr()
        os.kill(primary.process.pid, signal.SIGCONT)
        assert primary.wait_for_exit(LIMIT_S)
        primary.read()
        assert primary.process.returncode == EXIT_DEPOSED, primary.stderr()
    finally:
        primary.kill()
        if standby is not None:
            standby.process.send_signal(signal.SIGTERM)
            if not standby.wait_for_exit(LIMIT_S):
                standby.kill()
    assert standby.process.returncode == 0, standby.stderr()
    # The stream holds exactly the promoted journal: nothing of the old primary after.
    assert stream_rows(nats_server.url) == journal_rows(campaign.standby)
    assert campaign.campaign is not None
    campaign.campaign.take_lines(primary.lines, primary.cycle, primary.name)
    assert judge_journal(campaign.standby, campaign.campaign.answers, campaign.problems)
    assert not campaign.problems, "\n".join(campaign.problems[:20])


def test_a_standby_killed_mid_stream_restarts_catches_up_and_verifies(
    tmp_path: Path, nats_server: NatsServer
) -> None:
    campaign = FailoverCampaign(nats_server.url, tmp_path, count=3_000)
    primary = campaign.spawn_primary("primary")
    standby = campaign.spawn_standby("standby-1")
    try:
        assert wait_for_text(standby, "hcx standby following", LIMIT_S), standby.stderr()
        assert primary.wait_for_new_execution(LIMIT_S), primary.stderr()
        deadline = time.monotonic() + LIMIT_S
        while journal_last(campaign.standby) < 500 and time.monotonic() < deadline:
            time.sleep(0.01)
        standby.kill(whole_group=True)
        killed_at = journal_last(campaign.standby)
        assert killed_at > 0
        standby = campaign.spawn_standby("standby-2")
        assert primary.wait_for_exit(600), primary.stderr()
        assert primary.process.returncode == 0, primary.stderr()
        target = journal_last(campaign.primary)
        deadline = time.monotonic() + LIMIT_S
        while journal_last(campaign.standby) < target and time.monotonic() < deadline:
            time.sleep(0.05)
    finally:
        primary.kill()
        standby.process.send_signal(signal.SIGTERM)
        if not standby.wait_for_exit(LIMIT_S):
            standby.kill()
    assert killed_at < target == 3_000
    assert journal_rows(campaign.standby) == journal_rows(campaign.primary)
    assert campaign.replay_verify(campaign.standby) == 0


def journal_last(db: str) -> int:
    if not Path(db).exists():
        return 0
    journal = Journal(db, readonly=True)
    try:
        return journal.last()[0]
    except Exception:
        return 0
    finally:
        journal.close()


def test_hcx_promote_takes_over_a_dead_primarys_stream(
    tmp_path: Path, nats_server: NatsServer
) -> None:
    """No standby ran: ``hcx promote`` on a fresh journal applies the whole stream, takes
    the lease and serves; the next primary run on it re-answers every request as stored."""
    campaign = FailoverCampaign(nats_server.url, tmp_path, count=3_000)
    primary = campaign.spawn_primary("primary")
    assert primary.wait_for_new_execution(LIMIT_S), primary.stderr()
    time.sleep(0.3)
    primary.kill(whole_group=True)
    assert campaign.campaign is not None
    campaign.campaign.take_lines(primary.lines, primary.cycle, primary.name)
    promote = DriverRun.start(
        "promote",
        0,
        [
            sys.executable, "-m", "hcx.cli", "promote", "--db", campaign.standby,
            "--nats", nats_server.url, "--port", "0", "--auth", "none",
        ],
        tmp_path,
    )  # fmt: skip
    try:
        assert wait_for_text(promote, "hcx listening on", LIMIT_S), promote.stderr()
    finally:
        promote.process.send_signal(signal.SIGTERM)
        if not promote.wait_for_exit(LIMIT_S):
            promote.kill()
    assert promote.process.returncode == 0, promote.stderr()
    assert stream_rows(nats_server.url) == journal_rows(campaign.standby)
    assert judge_journal(campaign.standby, campaign.campaign.answers, campaign.problems)
    campaign.primary, campaign.standby = campaign.standby, campaign.primary
    campaign.final()
    assert not campaign.problems, "\n".join(campaign.problems[:20])
