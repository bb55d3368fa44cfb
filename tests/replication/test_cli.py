"""The command line's replication options: bad values are refused naming the field, and a
``sync`` start that cannot reach NATS exits 8 with a clear line after a bounded wait."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from hcx.cli import EXIT_UNREACHABLE, EXIT_USAGE
from tests.replication.natsd import free_port


def hcx(*args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "hcx.cli", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def test_bad_replication_settings_are_refused_naming_the_field(tmp_path: Path) -> None:
    settings = tmp_path / "hcx.toml"
    settings.write_text('[service]\nnats_urls = ["nats://127.0.0.1:1"]\nreplication = "maybe"\n')
    done = hcx("serve", "--db", str(tmp_path / "a.db"), "--config", str(settings))
    assert done.returncode == EXIT_USAGE
    assert "replication must be one of async, sync" in done.stderr
    done = hcx("serve", "--db", str(tmp_path / "a.db"), "--nats", "nats://x", "--venue", "a.b")
    assert done.returncode == EXIT_USAGE
    assert "venue 'a.b'" in done.stderr
    done = hcx("standby", "--db", str(tmp_path / "s.db"))
    assert done.returncode == EXIT_USAGE
    assert "--nats is required" in done.stderr
    assert not (tmp_path / "a.db").exists()


def test_a_sync_start_without_nats_exits_8(tmp_path: Path) -> None:
    url = f"nats://127.0.0.1:{free_port()}"  # nothing listens there
    done = hcx(
        "serve", "--db", str(tmp_path / "a.db"), "--port", "0", "--auth", "none",
        "--nats", url, "--replication", "sync",
    )  # fmt: skip
    assert done.returncode == EXIT_UNREACHABLE, done.stderr
    assert f"NATS at {url} did not answer" in done.stderr
