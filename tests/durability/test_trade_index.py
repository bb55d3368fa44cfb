"""The trade history's index: a start reads the journal's tail only, numbers continue
across starts exactly as a full read gives them, and a journal whose chain no longer
matches the index (a tail set aside, another file) has the index rebuilt."""

from __future__ import annotations

from pathlib import Path

import hcx
from hcx.durability.journal import Journal
from hcx.durability.trade_history import INDEX_KEY, TradeHistory
from tests.simulator.market import SOON, START_MS, SimDriver


def _trade(path: str, rounds: int, start_ms: int = START_MS) -> None:
    """Append ``rounds`` trades of SOON (the listing first, on a new journal)."""
    # Another seed on a later run: the same seed would repeat the first run's request ids,
    # which the journal answers as repeats.
    sim = hcx.Simulator(clock=hcx.SimClock(start_ms), seed=start_ms, journal=path)
    d = SimDriver(sim)
    if start_ms == START_MS:
        d.one("setup", ())
    for step in range(rounds):
        sim.advance(1_000)
        d.s["alice"].place_order(SOON, "sell", f"{100 + step % 3}", "1")
        d.s["bob"].place_order(SOON, "buy", "102", "1", tif="ioc")
    sim.close()


def _full_read(path: str) -> dict[str, list[tuple[int, ...]]]:
    """The trades as a read of the whole journal numbers them (no index)."""
    journal = Journal(path)
    try:
        journal.connection.execute("DELETE FROM meta WHERE key = ?", (INDEX_KEY,))
        history = TradeHistory.load(journal)
        return {s: [tuple(r) for r in rows] for s, rows in history.by_symbol.items()}
    finally:
        journal.close()


def _load(path: str) -> tuple[TradeHistory, int]:
    """The history as a start loads it, and how many rows the index held before."""
    journal = Journal(path)
    try:
        (before,) = journal.connection.execute("SELECT count(*) FROM trade_index").fetchone()
        return TradeHistory.load(journal), int(before)
    finally:
        journal.close()


def test_a_start_continues_the_index_and_numbers_as_a_full_read(tmp_path: Path) -> None:
    path = str(tmp_path / "j.db")
    _trade(path, 4)
    first, indexed_before = _load(path)
    assert indexed_before == 0
    assert [r.seq for r in first.by_symbol[SOON]] == [1, 2, 3, 4]
    _trade(path, 3, START_MS + 10_000)
    second, indexed_before = _load(path)
    assert indexed_before == 4  # the first start's trades came from the index
    assert [r.seq for r in second.by_symbol[SOON]] == [1, 2, 3, 4, 5, 6, 7]
    assert second.upto > first.upto
    loaded = {s: [tuple(r) for r in rows] for s, rows in second.by_symbol.items()}
    assert loaded == _full_read(path)


def test_an_index_whose_chain_no_longer_matches_is_rebuilt(tmp_path: Path) -> None:
    path = str(tmp_path / "j.db")
    _trade(path, 3)
    _load(path)
    journal = Journal(path)
    try:
        # The journal's tail set aside (as a former primary's is): the index covered it.
        (last,) = journal.connection.execute("SELECT max(seq) FROM journal").fetchone()
        journal.connection.execute("DELETE FROM journal WHERE seq >= ?", (last - 1,))
        history = TradeHistory.load(journal)
        (indexed,) = journal.connection.execute("SELECT count(*) FROM trade_index").fetchone()
    finally:
        journal.close()
    assert history.upto == last - 2
    assert len(history.by_symbol[SOON]) == indexed
    assert {s: [tuple(r) for r in rows] for s, rows in history.by_symbol.items()} == (
        _full_read(path)
    )
