"""NATS stopped for 10 s under load in ``sync`` mode (a real primary process): nothing is
released meanwhile, nothing is lost, and everything is answered once NATS is back."""

from __future__ import annotations

import time
from pathlib import Path

from tests.harness.crash import judge_journal
from tests.replication.failover import LIMIT_S, FailoverCampaign
from tests.replication.natsd import NatsServer
from tests.replication.streamread import journal_rows, stream_rows

OUTAGE_S = 10.0


def answers(lines: list[str]) -> int:
    return sum('"seq"' in line for line in lines)


def test_nats_outage_under_sync_load_holds_every_answer_then_releases_all(
    tmp_path: Path, nats_server: NatsServer
) -> None:
    campaign = FailoverCampaign(nats_server.url, tmp_path, count=6_000)
    primary = campaign.spawn_primary("primary")
    try:
        assert primary.wait_for_new_execution(LIMIT_S), primary.stderr()
        nats_server.stop()
        # What was acknowledged before the stop may still be on its way to stdout.
        time.sleep(0.5)
        primary.read()
        before = answers(primary.lines)
        time.sleep(OUTAGE_S - 0.5)
        primary.read()
        during = answers(primary.lines) - before
        nats_server.start()
        assert primary.wait_for_exit(600), primary.stderr()
        primary.read()
    finally:
        primary.kill()
    assert during == 0
    assert before < campaign.count
    assert primary.code == 0, primary.stderr()
    assert answers(primary.lines) == campaign.count
    assert "NATS unreachable" in primary.stderr() or "NATS unreachable" in primary.err.read_text()
    assert stream_rows(nats_server.url) == journal_rows(campaign.primary)
    assert campaign.campaign is not None
    campaign.campaign.take_lines(primary.lines, primary.cycle, primary.name)
    check = judge_journal(campaign.primary, campaign.campaign.answers, campaign.problems)
    assert check is not None and check.records == campaign.count
    assert not campaign.problems, "\n".join(campaign.problems[:20])
