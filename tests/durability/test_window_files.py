"""The idempotency window stored beside each snapshot: a restart reads it and adds only
the keys journaled after it, answering repeats from before and after the snapshot as a
window rebuilt from the journal does; a missing, damaged or foreign window file is passed
over for the rebuild, never used."""

from __future__ import annotations

import os
import shutil
import struct
import subprocess
import sys
import zlib
from pathlib import Path
from typing import Any

import pytest

from hcx.durability import window_build
from hcx.durability.backup import backup
from hcx.durability.idempotency import IdempotencyWindow, request_key
from hcx.durability.journal import Journal
from hcx.durability.records import decode_record
from hcx.durability.snapshots import list_snapshots, prune, snapshot_dir, write_snapshot_file
from hcx.durability.window_files import (
    MAGIC,
    list_windows,
    load_window,
    read_window_file,
    window_path,
    write_window_file,
)
from hcx.sequencing import Reply
from hcx.service.config import ServiceConfig
from hcx.service.supervisor import open_exchange
from tests.durability.market import listing, now_ms, order

WINDOW_MS, FUTURE_MS = 60_000, 1_000
CHAIN = bytes(range(16))


def _window(count: int, start_ts: int = 1_000_000, step_ms: int = 5) -> IdempotencyWindow:
    window = IdempotencyWindow(WINDOW_MS, FUTURE_MS)
    for seq in range(1, count + 1):
        window.add(request_key(f"w{seq % 5}", f"r{seq}"), seq, start_ts + seq * step_ms)
    return window


def _remembered(window: IdempotencyWindow) -> list[tuple[int, int, set[tuple[int, int]]]]:
    held = []
    for start, table in window._generations:
        table.finish_moving()
        pairs = {(k, s) for k, s in zip(table.keys, table.seqs, strict=True) if k}
        held.append((start, table.count, pairs))
    return held


def test_a_window_file_reads_back_the_same_window(tmp_path: Path) -> None:
    window = _window(30_000)  # 150 s of keys: several generations, some dropped
    path = write_window_file(tmp_path, window, CHAIN)
    assert path == window_path(tmp_path, 30_000)
    stored = read_window_file(path)
    assert (stored.seq, stored.chain) == (30_000, CHAIN)
    assert stored.window.last_seq == 30_000
    assert (stored.window.window_ms, stored.window.future_ms) == (WINDOW_MS, FUTURE_MS)
    assert _remembered(stored.window) == _remembered(window)
    assert len(stored.window) == len(window) > 0
    key = request_key("w4", "r29999")
    assert stored.window.candidates(key) == [29_999]


def _damaged(path: Path, how: str) -> None:
    data = bytearray(path.read_bytes())
    if how == "flipped":
        data[len(data) // 2] ^= 0x40
    elif how == "truncated":
        del data[len(data) - 100 :]
    elif how == "extended":
        data += b"\0" * 8
    elif how == "header":
        data[len(MAGIC) + 24 + 16] ^= 0x01  # the window's generation count
    elif how == "magic":
        data[0] ^= 0x01
    path.write_bytes(bytes(data))


@pytest.mark.parametrize("how", ["flipped", "truncated", "extended", "header", "magic"])
def test_a_damaged_window_file_is_passed_over(tmp_path: Path, how: str) -> None:
    write_window_file(tmp_path, _window(5_000), CHAIN)
    path = write_window_file(tmp_path, _window(6_000), CHAIN)
    assert load_window(tmp_path, 10**9, lambda seq: CHAIN, WINDOW_MS, FUTURE_MS) is not None
    _damaged(path, how)
    with pytest.raises(ValueError):
        read_window_file(path)
    stored = load_window(tmp_path, 10**9, lambda seq: CHAIN, WINDOW_MS, FUTURE_MS)
    assert stored is not None and stored.seq == 5_000  # the older sound one


def test_only_a_window_of_this_history_and_these_parameters_is_used(tmp_path: Path) -> None:
    write_window_file(tmp_path, _window(5_000), CHAIN)

    def load(max_seq: int, chain: bytes | None, window_ms: int, future_ms: int) -> Any:
        return load_window(tmp_path, max_seq, lambda seq: chain, window_ms, future_ms)

    assert load(5_000, CHAIN, WINDOW_MS, FUTURE_MS) is not None
    assert load(4_999, CHAIN, WINDOW_MS, FUTURE_MS) is None  # past the journal's end
    assert load(5_000, bytes(16), WINDOW_MS, FUTURE_MS) is None  # another history
    assert load(5_000, None, WINDOW_MS, FUTURE_MS) is None  # no record at its seq
    assert load(5_000, CHAIN, WINDOW_MS, 2_000) is None
    assert load(5_000, CHAIN, 30_000, FUTURE_MS) is None
    # A file renamed to another seq does not claim that seq's keys.
    window_path(tmp_path, 5_000).rename(window_path(tmp_path, 4_000))
    assert load(5_000, CHAIN, WINDOW_MS, FUTURE_MS) is None


def test_a_forked_child_sees_the_window_as_it_was_at_the_fork() -> None:
    """The snapshot child writes the window of its seq while the parent goes on adding
    keys to the same tables: their pages must be the child's own copy."""
    window = _window(100)
    added_after = request_key("late", "r")
    to_child_r, to_child_w = os.pipe()
    to_parent_r, to_parent_w = os.pipe()
    pid = os.fork()
    if pid == 0:  # pragma: no cover (the child reports through the pipe)
        code = 1
        try:
            os.read(to_child_r, 1)
            seen = window.candidates(added_after)
            os.write(to_parent_w, b"1" if seen else b"0")
            code = 0
        finally:
            os._exit(code)
    window.add(added_after, 101, 1_000_000 + 101 * 5)  # into the table the child holds
    assert window.candidates(added_after) == [101]
    os.write(to_child_w, b"go")
    seen_by_child = os.read(to_parent_r, 1)
    _, status = os.waitpid(pid, 0)
    for fd in (to_child_r, to_child_w, to_parent_r, to_parent_w):
        os.close(fd)
    assert os.waitstatus_to_exitcode(status) == 0
    assert seen_by_child == b"0"


def test_window_files_are_pruned_with_their_snapshots(tmp_path: Path) -> None:
    for seq in (100, 200, 300):
        write_window_file(tmp_path, _window(seq), CHAIN)
        write_snapshot_file(tmp_path, b"snapshot", seq)
    write_window_file(tmp_path, _window(400), CHAIN)  # a child's, its snapshot not yet renamed
    prune(tmp_path, keep=2)
    assert [p.name[:20] for p in list_snapshots(tmp_path)] == [f"{s:020d}" for s in (300, 200)]
    assert [p.name[:20] for p in list_windows(tmp_path)] == [f"{s:020d}" for s in (400, 300, 200)]


# --- a restart through the service ------------------------------------------------------


async def _submit(exchange: Any, prefix: str, count: int, ts: int) -> list[Reply]:
    items = [("alice", f"{prefix}{n}", ts, order("buy", str(80 + n % 10))) for n in range(count)]
    answers = await exchange.submit_many(items)
    assert all(isinstance(a, Reply) for a in answers)
    return answers  # type: ignore[no-any-return]


def _foreign(path: Path) -> None:
    """The same file claiming another chain value at its seq, its CRC made good."""
    data = bytearray(path.read_bytes()[:-4])
    data[len(MAGIC) + 8] ^= 0xFF
    path.write_bytes(bytes(data) + struct.pack(">I", zlib.crc32(data)))


def _hollow(path: Path) -> None:
    """A sound file of the right seq and chain holding no keys at all."""
    stored = read_window_file(path)
    empty = IdempotencyWindow(stored.window.window_ms, stored.window.future_ms)
    empty.last_seq = stored.seq
    path.unlink()
    write_window_file(path.parent, empty, stored.chain)


@pytest.mark.parametrize("damage", ["none", "flipped", "truncated", "missing", "foreign", "hollow"])
async def test_a_restart_answers_repeats_from_the_stored_window_or_the_rebuild(
    tmp_path: Path, damage: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    used: list[bool] = []
    original = window_build.WindowBuild.result

    def result(self: window_build.WindowBuild) -> Any:
        window = original(self)
        used.append(self.from_stored)
        return window

    monkeypatch.setattr(window_build.WindowBuild, "result", result)
    path = str(tmp_path / "j.db")
    config = ServiceConfig(db=path, snapshot_every=50, snapshots_kept=2)
    ts = now_ms()
    async with open_exchange(config) as exchange:
        await exchange.submit_many(listing())  # type: ignore[arg-type]
        before = await _submit(exchange, "before", 60, ts)  # seqs 5..64: a snapshot at 50
        after = await _submit(exchange, "after", 20, ts)  # seqs 65..84
    assert before[0].seq == 5 and after[-1].seq == 84
    directory = snapshot_dir(path)
    # The final snapshot (at 84) is lost: the restart starts from the one at 50.
    for name in (f"{84:020d}.snap", f"{84:020d}.window"):
        (directory / name).unlink()
    stored = window_path(directory, 50)
    assert stored.exists() and used == [False]  # the first start had none
    used.clear()
    if damage == "missing":
        stored.unlink()
    elif damage == "foreign":
        _foreign(stored)
    elif damage == "hollow":
        _hollow(stored)
    elif damage != "none":
        _damaged(stored, damage)
    async with open_exchange(config) as exchange:
        assert used == [damage == "none"]
        assert exchange.recovered.snapshot_seq == 50
        assert await _submit(exchange, "before", 60, ts) == before
        assert await _submit(exchange, "after", 20, ts) == after
        assert await exchange.query(lambda engine: engine.last_seq) == 84
        fresh = await _submit(exchange, "fresh", 1, ts)
        assert fresh[0].seq == 85
    journal = Journal(path)
    try:
        requests = [decode_record(row[3]).request_id for row in journal.scan()]
    finally:
        journal.close()
    assert len(requests) == len(set(requests)) == 85


async def test_replay_verify_and_a_restored_backup_work_beside_window_files(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``hcx replay --verify`` passes over window files; a backup taken at seq 64 and put
    in place of the journal starts with the old snapshot directory beside it: the window
    file at 50 is of its history and is used, the one at 84 (past its end) is not, and
    repeats from before and after seq 50 get their stored results."""
    used: list[bool] = []
    original = window_build.WindowBuild.result

    def result(self: window_build.WindowBuild) -> Any:
        window = original(self)
        used.append(self.from_stored)
        return window

    monkeypatch.setattr(window_build.WindowBuild, "result", result)
    path = str(tmp_path / "j.db")
    copy = str(tmp_path / "backup.db")
    config = ServiceConfig(db=path, snapshot_every=50, snapshots_kept=2)
    ts = now_ms()
    async with open_exchange(config) as exchange:
        await exchange.submit_many(listing())  # type: ignore[arg-type]
        before = await _submit(exchange, "before", 60, ts)  # seqs 5..64: a snapshot at 50
        backup(path, copy)
        await _submit(exchange, "after", 20, ts)  # seqs 65..84, not in the backup
    directory = snapshot_dir(path)
    assert [p.name[:20] for p in list_windows(directory)] == [f"{84:020d}", f"{50:020d}"]
    done = subprocess.run(
        [sys.executable, "-m", "hcx.cli", "replay", "--db", path, "--verify"],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert "final seq: 84" in done.stdout
    # The restore: the backup in place of the journal, the snapshots left beside it.
    for suffix in ("", "-wal", "-shm"):
        Path(f"{path}{suffix}").unlink(missing_ok=True)
    shutil.copyfile(copy, path)
    used.clear()
    async with open_exchange(config) as exchange:
        assert used == [True]
        assert exchange.recovered.last_seq == 64 and exchange.recovered.snapshot_seq == 50
        assert await _submit(exchange, "before", 60, ts) == before
        assert await exchange.query(lambda engine: engine.last_seq) == 64
        fresh = await _submit(exchange, "after", 1, ts)  # not in the backup: executed anew
        assert fresh[0].seq == 65
