"""A repeated request with and without a journal file: answered with the stored result,
never executed twice, never answered with another request's result when key hashes
collide, and (without a file, where answers are kept in memory) forgotten when it ages
out of the window, as the server forgets it."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

import hcx
from hcx.client import HcxError
from hcx.simulator.store import _PRUNE_EVERY
from tests.simulator.market import SOON, START_MS, SimDriver


def _uuid(n: int) -> str:
    return f"00000000-0000-4000-8000-{n:012d}"


def _market(tmp_path: Path, journal: bool, **kwargs: Any) -> tuple[hcx.Simulator, SimDriver]:
    path = str(tmp_path / "sim.db") if journal else None
    sim = hcx.Simulator(clock=hcx.SimClock(START_MS), seed=1, journal=path, **kwargs)
    d = SimDriver(sim)
    d.one("setup", ())
    return sim, d


@pytest.mark.parametrize("journal", [False, True], ids=["memory", "file"])
def test_colliding_key_hashes_never_answer_with_another_requests_result(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, journal: bool
) -> None:
    sim, d = _market(tmp_path, journal, commit_every=1)  # repeats read the file
    # Every request key the same hash: each new request is a candidate for the others.
    monkeypatch.setattr(sim.step, "key_of", lambda wallet, request_id: 42)
    alice = d.s["alice"]
    first = alice.place_order(SOON, "buy", "90", "1", request_id=_uuid(1))
    second = alice.place_order(SOON, "buy", "91", "2", request_id=_uuid(2))
    other = d.s["bob"].place_order(SOON, "buy", "92", "3", request_id=_uuid(1))
    assert (second.seq, other.seq) == (first.seq + 1, first.seq + 2)  # all executed
    assert (second.price, other.wallet) == (91, "bob")
    seq = sim.last_seq
    assert alice.place_order(SOON, "buy", "90", "1", request_id=_uuid(1), ts=first.ts) == first
    assert alice.place_order(SOON, "buy", "91", "2", request_id=_uuid(2), ts=second.ts) == second
    assert sim.last_seq == seq  # the repeats executed nothing
    assert len(alice.get_open_orders().orders) == 2
    sim.close()


@pytest.mark.parametrize("journal", [False, True], ids=["memory", "file"])
def test_a_fork_answers_repeats_of_requests_made_before_it(tmp_path: Path, journal: bool) -> None:
    sim, d = _market(tmp_path, journal, commit_every=2)
    placed = d.s["alice"].place_order(SOON, "sell", "100", "1", request_id=_uuid(7))
    d.s["bob"].place_order(SOON, "sell", "101", "1")
    twin = sim.fork()
    new = twin.session("carol").place_order(SOON, "buy", "99", "1")
    assert new.seq == placed.seq + 2
    again = twin.session("alice").place_order(
        SOON, "sell", "100", "1", request_id=_uuid(7), ts=placed.ts
    )
    assert again == placed and twin.last_seq == new.seq
    sim.close()


def test_without_a_file_answers_age_out_of_the_window_as_the_servers_do() -> None:
    clock = hcx.SimClock(START_MS)
    sim = hcx.Simulator(clock=clock, seed=1, recv_window_ms=60_000, future_ms=1_000)
    d = SimDriver(sim)
    d.one("setup", ())
    alice = d.s["alice"]
    old = alice.place_order(SOON, "buy", "90", "1", request_id=_uuid(3))
    assert sim.store.read(old.seq) is not None
    clock.advance(62_000)  # past the window and the future allowance
    for n in range(_PRUNE_EVERY):
        alice.cancel_order(10_000_000 + n)  # rejected (no such order), yet journaled
    assert sim.store.read(old.seq) is None
    assert len(sim.store.rows) <= _PRUNE_EVERY
    with pytest.raises(HcxError) as stale:  # as on the server: its ts is outside the window
        alice.place_order(SOON, "buy", "90", "1", request_id=_uuid(3), ts=old.ts)
    assert stale.value.code == "stale_request"
    # A repeat still within the window is answered from memory.
    recent = alice.place_order(SOON, "buy", "89", "1", request_id=_uuid(4))
    assert alice.place_order(SOON, "buy", "89", "1", request_id=_uuid(4)) == recent
    sim.close()


def _reuse_past_the_window(sim: hcx.Simulator, d: SimDriver) -> tuple[Any, Any]:
    """An id placed, then (after its original is older than window + future: no retry
    can be that late) about to be used again with a fresh ts; the original's answer and
    the id."""
    rid = _uuid(3)
    alice = d.s["alice"]
    old = alice.place_order(SOON, "buy", "90", "1", request_id=rid)
    sim.clock.advance(62_000)  # past 60 s + 1 s, within the window's extra half
    for n in range(_PRUNE_EVERY):  # the file-less store prunes what aged out
        alice.cancel_order(10_000_000 + n)
    return old, rid


def _place_again(sim: hcx.Simulator, rid: str) -> Any:
    return sim.session("alice").place_order(SOON, "buy", "90", "1", request_id=rid)


def _windowed(tmp_path: Path, journal: bool) -> tuple[hcx.Simulator, SimDriver]:
    home = tmp_path / ("file" if journal else "memory")
    home.mkdir()
    return _market(home, journal, recv_window_ms=60_000, future_ms=1_000)


def test_an_id_reused_past_the_window_is_answered_alike_with_or_without_a_file(
    tmp_path: Path,
) -> None:
    outcomes = {}
    for journal in (False, True):
        sim, d = _windowed(tmp_path, journal)
        old, rid = _reuse_past_the_window(sim, d)
        again = _place_again(sim, rid)
        outcomes[journal] = (again == old, sim.digest())
        sim.close()
    # A key the window still holds must not decide: neither answers it as a repeat.
    assert outcomes[False] == outcomes[True]
    assert outcomes[True][0] is False


@pytest.mark.parametrize("journal", [False, True], ids=["memory", "file"])
def test_a_fork_answers_an_id_reused_past_the_window_as_its_parent_does(
    tmp_path: Path, journal: bool
) -> None:
    sim, d = _windowed(tmp_path, journal)
    old, rid = _reuse_past_the_window(sim, d)
    twin = sim.fork()
    in_twin, in_parent = _place_again(twin, rid), _place_again(sim, rid)
    assert (in_twin == old, twin.digest()) == (in_parent == old, sim.digest())
    assert in_parent != old
    twin.close()
    sim.close()


def test_a_retry_reaches_its_original_across_a_lowered_future_ms_in_a_fork_too(
    tmp_path: Path,
) -> None:
    """A journal run with future_ms 5 s, continued with 1 s: a true retry of a request
    stamped 5 s ahead, 64 s later, is still answered from its original by the reopened
    simulator and by its fork (which keeps answers for as long as a retry can reach)."""
    path = str(tmp_path / "sim.db")
    sim = hcx.Simulator(clock=hcx.SimClock(START_MS), seed=1, journal=path, future_ms=5_000)
    d = SimDriver(sim)
    d.one("setup", ())
    sent_at = sim.clock.now_ms()
    rid = _uuid(77)
    original = d.s["alice"].place_order(SOON, "buy", "90", "1", request_id=rid, ts=sent_at + 5_000)
    sim.close()
    sim = hcx.Simulator(clock=hcx.SimClock(sent_at + 64_000), seed=1, journal=path, future_ms=1_000)
    sim.session("bob").cancel_order(123_456)  # the journal's time is now
    twin = sim.fork()
    retried = [
        s.session("alice").place_order(SOON, "buy", "90", "1", request_id=rid, ts=sent_at + 5_000)
        for s in (twin, sim)
    ]
    assert retried == [original, original]
    twin.close()
    sim.close()
