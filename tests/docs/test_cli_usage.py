"""The ``hcx`` command line as the documents use it: each sub-command's own ``--help``,
``./hcx.db`` by default, and ``hcx backup`` with nothing but its defaults."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest


def _hcx(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "hcx.cli", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


@pytest.mark.parametrize(
    ("action", "options"),
    [("create", ["--wallet", "--role", "--db"]), ("list", ["--wallet"]), ("revoke", ["--key-id"])],
)
def test_each_keys_action_has_its_own_help(action: str, options: list[str], tmp_path: Path) -> None:
    done = _hcx("keys", action, "--help", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith(f"usage: hcx keys {action} "), done.stdout
    for option in options:
        assert option in done.stdout
    assert not (tmp_path / "hcx.db").exists()  # help touches no journal


def test_keys_without_a_required_field_name_it(tmp_path: Path) -> None:
    create = _hcx("keys", "create", cwd=tmp_path)
    assert create.returncode == 2 and "--wallet" in create.stderr
    revoke = _hcx("keys", "revoke", cwd=tmp_path)
    assert revoke.returncode == 2 and "--key-id" in revoke.stderr
    assert not (tmp_path / "hcx.db").exists()


def test_backup_and_replay_default_to_hcx_db(tmp_path: Path) -> None:
    missing = _hcx("backup", cwd=tmp_path)
    assert missing.returncode == 2
    assert missing.stderr.strip() == "hcx backup: no journal at hcx.db"
    assert list(tmp_path.iterdir()) == []

    assert _hcx("keys", "create", "--wallet", "alice", cwd=tmp_path).returncode == 0
    done = _hcx("backup", "--verify", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    copied = re.search(r"^copied \d+ pages to (hcx-backup-\d{8}T\d{6}Z\.db)$", done.stdout, re.M)
    assert copied, done.stdout
    assert (tmp_path / copied.group(1)).is_file()
    assert "final seq: " in done.stdout

    replayed = _hcx("replay", "--verify", cwd=tmp_path)
    assert replayed.returncode == 0, replayed.stderr
    assert "final seq: " in replayed.stdout

    again = _hcx("backup", "--to", copied.group(1), cwd=tmp_path)
    assert again.returncode == 2 and "exists" in again.stderr
