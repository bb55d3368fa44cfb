"""``hcx replay``: an offline rebuild that prints what it found and fails on corruption."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

from hcx.durability.journal import Journal
from hcx.service.config import ServiceConfig
from hcx.service.supervisor import open_exchange
from tests.durability.market import listing, now_ms, order


async def _make_journal(path: str) -> str:
    async with open_exchange(ServiceConfig(db=path)) as exchange:
        await exchange.submit_many(listing())  # type: ignore[arg-type]
        ts = now_ms()
        await exchange.submit_many(
            [("alice", f"o{n}", ts, order("buy", "1")) for n in range(30)]  # type: ignore[misc]
        )
        digest: str = await exchange.query(lambda engine: engine.digest())
    return digest


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "hcx.cli", "replay", *args],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


async def test_replay_prints_counts_seq_and_digest(tmp_path: Path) -> None:
    path = str(tmp_path / "j.db")
    digest = await _make_journal(path)
    done = _run("--db", path, "--verify")
    assert done.returncode == 0, done.stderr
    assert "records replayed: 34" in done.stdout
    assert "final seq: 34" in done.stdout
    assert f"digest: {digest}" in done.stdout


async def test_replay_fails_on_a_corrupt_record(tmp_path: Path) -> None:
    path = str(tmp_path / "j.db")
    await _make_journal(path)
    journal = Journal(path)
    journal.connection.execute("UPDATE journal SET crc = crc + 1 WHERE seq = 12")
    journal.close()
    done = _run("--db", path, "--verify")
    assert done.returncode == 3
    assert "seq 12" in done.stderr


async def test_replay_verify_reports_a_broken_engine_invariant(
    tmp_path: Path, monkeypatch: Any, capsys: Any
) -> None:
    """A journal whose records all reproduce can still rebuild a state no command may
    leave (an engine bug replays faithfully): ``--verify`` checks the engine's invariants
    on what it rebuilt. The bug is stood in for by corrupting the recovered state."""
    import hcx.durability.replay
    from hcx import cli

    path = str(tmp_path / "j.db")
    await _make_journal(path)
    assert cli.replay(path, verify=True) == 0
    capsys.readouterr()
    real_recover = hcx.durability.replay.recover

    def recover_corrupted(*args: Any, **kwargs: Any) -> Any:
        recovered = real_recover(*args, **kwargs)
        recovered.engine.state.fees_collected += 7  # money from nowhere
        return recovered

    monkeypatch.setattr(hcx.durability.replay, "recover", recover_corrupted)
    assert cli.replay(path, verify=True) == cli.EXIT_ENGINE
    err = capsys.readouterr().err
    assert "INVARIANT broken at seq 34: money not conserved" in err
