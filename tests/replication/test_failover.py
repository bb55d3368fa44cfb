"""Failover under load, with real processes and real SIGKILLs (see ``failover.py``): in
``sync`` mode no acknowledged answer is lost, nothing executes twice, money is conserved
and the promoted journal replays with every digest verified. ``HCX_FAILOVER_CYCLES``
changes the count; ``scripts/failover_campaign.py`` runs long campaigns."""

from __future__ import annotations

import os
import random
from pathlib import Path

from tests.replication.failover import FailoverCampaign
from tests.replication.natsd import NatsServer

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
