"""The idempotency window rebuilt at start by a child process: the same window as one
built here, and any failure of the child falls back to building it here."""

from __future__ import annotations

import io
import logging
from collections.abc import Iterator
from pathlib import Path

import pytest

from hcx.durability import window_build
from hcx.durability.idempotency import IdempotencyWindow, _Table, request_key
from hcx.durability.journal import Journal
from hcx.durability.window_build import WindowBuild, WindowPlan, build_here

WINDOW_MS, FUTURE_MS = 60_000, 1_000


def _remembered(window: IdempotencyWindow) -> list[tuple[int, int, set[tuple[int, int]]]]:
    """Per generation: its start, its count and every (key, seq) it can return."""
    held = []
    for start, table in window._generations:
        table.finish_moving()
        pairs = {(k, s) for k, s in zip(table.keys, table.seqs, strict=True) if k}
        held.append((start, table.count, pairs))
    return held


@pytest.fixture(autouse=True)
def child_for_any_size(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(window_build, "PARALLEL_MIN_KEYS", 1)
    monkeypatch.setattr(window_build, "PARALLEL_MIN_TAIL", 0)


@pytest.fixture
def journal(tmp_path: Path) -> Iterator[Journal]:
    """A journal of 30,000 records over 90 s of keys (records' bodies do not matter here)."""
    journal = Journal(str(tmp_path / "j.db"))
    rows = [
        (seq, 1_000_000 + seq * 3, request_key(f"w{seq % 7}", f"r{seq}"), b"x", 0, b"c")
        for seq in range(1, 30_001)
    ]
    journal.append(rows)
    yield journal
    journal.close()


def _plan(journal: Journal) -> WindowPlan:
    last_ts = journal.read(journal.last()[0])[1]  # type: ignore[index]
    return WindowPlan(last_ts - WINDOW_MS - FUTURE_MS, WINDOW_MS, FUTURE_MS)


def test_a_window_built_by_the_child_is_the_window_built_here(journal: Journal) -> None:
    plan = _plan(journal)
    build = WindowBuild.start(journal, plan, child_allowed=True, replay_tail=0)
    window = build.result()
    assert build.built_by_child
    here = build_here(journal, plan)
    assert len(window) == len(here) == 20_334
    assert _remembered(window) == _remembered(here)
    key = request_key(f"w{29_999 % 7}", "r29999")
    assert window.candidates(key) == here.candidates(key) == [29_999]
    # It goes on taking keys like any other window.
    window.add(request_key("w0", "new"), 30_001, 1_000_000 + 30_001 * 3)
    assert window.candidates(request_key("w0", "new")) == [30_001]


def test_small_windows_short_replays_and_vfs_journals_are_built_here(
    journal: Journal, monkeypatch: pytest.MonkeyPatch
) -> None:
    plan = _plan(journal)
    assert WindowBuild.start(journal, plan, child_allowed=False, replay_tail=10**6).child is None
    monkeypatch.setattr(window_build, "PARALLEL_MIN_TAIL", 25_000)
    assert WindowBuild.start(journal, plan, child_allowed=True, replay_tail=24_999).child is None
    monkeypatch.setattr(window_build, "PARALLEL_MIN_KEYS", 20_335)  # the window holds 20,334
    assert WindowBuild.start(journal, plan, child_allowed=True, replay_tail=10**6).child is None


@pytest.mark.parametrize(
    "child",
    [
        "import sys; sys.exit(3)",
        "import sys; sys.stdout.buffer.write(b'short')",
        # A well-formed window of the wrong size: nothing but a header for no tables.
        "import struct, sys; sys.stdout.buffer.write(struct.pack('=qqq', 60000, 1000, 0))",
    ],
    ids=["exits-non-zero", "stops-early", "wrong-size"],
)
def test_a_failing_child_falls_back_to_building_here(
    journal: Journal,
    child: str,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    monkeypatch.setattr(window_build, "_CHILD", child)
    plan = _plan(journal)
    build = WindowBuild.start(journal, plan, child_allowed=True, replay_tail=0)
    with caplog.at_level(logging.WARNING, logger="hcx.window"):
        window = build.result()
    assert not build.built_by_child
    assert "building it here" in caplog.text
    assert _remembered(window) == _remembered(build_here(journal, plan))


def test_abandoning_a_build_stops_its_child(journal: Journal) -> None:
    build = WindowBuild.start(journal, _plan(journal), child_allowed=True, replay_tail=0)
    assert build.child is not None
    build.abandon()
    assert build.child.returncode is not None


def test_write_and_read_back_a_window_with_a_table_still_growing() -> None:
    window = IdempotencyWindow(WINDOW_MS, FUTURE_MS)
    for n in range(5_000):
        window.add(request_key("w", str(n)), n + 1, n * 20)  # 100 s: several generations
    table = window._generations[-1][1]
    while table.old is None:  # leave the newest table in the middle of growing
        n += 1
        window.add(request_key("w", str(n)), n + 1, 100_000)
    assert isinstance(table, _Table) and table.old is not None
    out = io.BytesIO()
    window.write_to(out.write)
    out.seek(0)

    def read_into(buffer: memoryview) -> None:
        assert out.readinto(buffer) == len(buffer)

    back = IdempotencyWindow.read_from(read_into)
    assert out.read() == b""
    assert (back.window_ms, back.future_ms, len(back)) == (WINDOW_MS, FUTURE_MS, len(window))
    assert _remembered(back) == _remembered(window)
    for probe in (0, 2_500, n):
        key = request_key("w", str(probe))
        assert back.candidates(key) == window.candidates(key) != []
