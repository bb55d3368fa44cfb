"""Closing an exchange right after opening it: the drain must not wait on helper tasks
(snapshot reaper, checkpoint loop) that had not run yet when it began."""

from __future__ import annotations

from pathlib import Path

import trio

from hcx.service.config import ServiceConfig
from hcx.service.supervisor import open_exchange


async def test_an_exchange_closed_at_once_does_not_hang(tmp_path: Path) -> None:
    # trio runs a batch of ready tasks in a random order, so the helpers may not have
    # started when the drain cancels them; repeat to meet that order.
    config = ServiceConfig(db=str(tmp_path / "j.db"))
    for _ in range(40):
        with trio.fail_after(10):
            async with open_exchange(config):
                pass
