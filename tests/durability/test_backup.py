"""``hcx backup`` copies a journal consistently while it is being written."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import trio

from hcx.durability.journal import Journal
from hcx.durability.replay import recover
from hcx.engine import EngineConfig
from hcx.service.config import ServiceConfig
from hcx.service.supervisor import open_exchange
from tests.durability.market import listing, now_ms, order


async def test_backup_while_committing_is_a_consistent_prefix(tmp_path: Path) -> None:
    path = str(tmp_path / "live.db")
    copy = str(tmp_path / "copy.db")
    async with open_exchange(ServiceConfig(db=path)) as exchange:
        await exchange.submit_many(listing())  # type: ignore[arg-type]

        async def trade() -> None:
            ts = now_ms()
            for chunk in range(20):
                await exchange.submit_many(
                    [("alice", f"o{chunk}-{n}", ts, order("buy", "1")) for n in range(50)]  # type: ignore[misc]
                )

        async with trio.open_nursery() as nursery:
            nursery.start_soon(trade)
            await trio.sleep(0.05)
            done = await trio.to_thread.run_sync(
                lambda: subprocess.run(
                    [sys.executable, "-m", "hcx.cli", "backup", "--db", path, "--to", copy],
                    capture_output=True,
                    text=True,
                    timeout=60,
                    check=False,
                )
            )
        assert done.returncode == 0, done.stderr
        final_seq = exchange.sequencer.step.next_seq - 1
    journal = Journal(copy)
    recovered = recover(journal, None, EngineConfig())
    journal.close()
    assert 4 <= recovered.last_seq <= final_seq
    again = subprocess.run(
        [sys.executable, "-m", "hcx.cli", "backup", "--db", path, "--to", copy],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert again.returncode == 2 and "exists" in again.stderr
