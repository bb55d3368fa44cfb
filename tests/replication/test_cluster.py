"""A 3-node NATS cluster with the stream and the lease replicated 3 times: SIGKILL one
node under ``sync`` load and nothing is lost, release goes on, every request answered."""

from __future__ import annotations

import signal
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.harness.crash import DriverRun, judge_journal
from tests.replication.failover import DRIVER, LIMIT_S, FailoverCampaign
from tests.replication.natsd import NatsCluster
from tests.replication.streamread import journal_rows, stream_rows

COUNT = 5_000


@pytest.fixture
def cluster(tmp_path: Path) -> Iterator[NatsCluster]:
    nodes = NatsCluster(tmp_path / "nats")
    try:
        nodes.start()
        yield nodes
    finally:
        nodes.stop()


def test_losing_one_node_of_three_loses_nothing(tmp_path: Path, cluster: NatsCluster) -> None:
    campaign = FailoverCampaign(cluster.urls, tmp_path, count=COUNT)
    assert campaign.campaign is not None
    command = [
        sys.executable, DRIVER, "--nats", cluster.urls, "--replicas", "3",
        "--db", campaign.primary, "--seed", str(campaign.seed), "--count", str(COUNT),
        "--concurrency", "4",
    ]  # fmt: skip
    primary = DriverRun.start("primary", 1, command, tmp_path)
    try:
        assert primary.wait_for_new_execution(LIMIT_S), primary.stderr()
        victim = cluster.nodes[0].process
        assert victim is not None
        victim.send_signal(signal.SIGKILL)
        victim.wait()
        assert primary.wait_for_exit(600), primary.stderr()
        primary.read()
    finally:
        primary.kill()
    assert primary.code == 0, primary.stderr()
    answered = sum('"seq"' in line for line in primary.lines)
    assert answered == COUNT
    assert stream_rows(cluster.nodes[1].url) == journal_rows(campaign.primary)
    campaign.campaign.take_lines(primary.lines, primary.cycle, primary.name)
    check = judge_journal(campaign.primary, campaign.campaign.answers, campaign.problems)
    assert check is not None and check.records == COUNT
    assert not campaign.problems, "\n".join(campaign.problems[:20])
