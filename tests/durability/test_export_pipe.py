"""``hcx export`` into a reader that stops early (``| head``): a quiet exit 0, no error line."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
HCX = [sys.executable, "-m", "hcx.cli"]
PIPE_BUFFER_BYTES = 64 * 1024  # Linux's default: more output than this meets a closed pipe


def test_export_into_a_reader_that_stops_early_exits_quietly(tmp_path: Path) -> None:
    db = tmp_path / "backtest.db"
    subprocess.run(
        [sys.executable, str(ROOT / "examples" / "backtest.py"), "--rows", "3000", "--db", str(db)],
        check=True,
        capture_output=True,
        cwd=tmp_path,
    )
    whole = subprocess.run(
        [*HCX, "export", "--db", str(db), "orders", "--format", "jsonl"],
        check=True,
        capture_output=True,
    )
    assert len(whole.stdout) > 4 * PIPE_BUFFER_BYTES  # or the pipe never breaks

    reader = subprocess.Popen(
        [*HCX, "export", "--db", str(db), "orders", "--format", "jsonl"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    assert reader.stdout is not None and reader.stderr is not None
    first = reader.stdout.readline()
    reader.stdout.close()  # what ``head -1`` does after its line
    errors = reader.stderr.read().decode()
    assert reader.wait(timeout=60) == 0, errors
    assert first == whole.stdout.splitlines(keepends=True)[0]
    assert errors == ""
