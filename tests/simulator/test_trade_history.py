"""The Simulator's public trades are the server's: ``Trade.seq`` numbers a symbol's
trades 1, 2, 3 … (``journal_seq`` the command's seq) on the ``trades`` channel and in
``get_trades``, continued across a reopened journal and kept apart in a fork; the numbers
equal what ``hcx serve`` loads from the same journal file."""

from __future__ import annotations

from pathlib import Path

import pytest

import hcx
from hcx.client import HcxError
from hcx.durability.journal import Journal
from hcx.durability.trade_history import TradeHistory
from tests.simulator.market import LATER, SOON, START_MS, SimDriver


def trade(d: SimDriver, symbol: str, price: str) -> None:
    d.s["alice"].place_order(symbol, "sell", price, "1")
    d.s["bob"].place_order(symbol, "buy", price, "1", tif="ioc")


def numbers(trades: object) -> list[tuple[int, int | None, str]]:
    return [(t.seq, t.journal_seq, str(t.price)) for t in trades]  # type: ignore[attr-defined]


def test_trades_are_numbered_per_symbol_as_the_server_numbers_them(tmp_path: Path) -> None:
    path = str(tmp_path / "sim.db")
    sim = hcx.Simulator(clock=hcx.SimClock(START_MS), seed=3, journal=path)
    d = SimDriver(sim)
    d.one("setup", ())
    heard: list[hcx.client.Trade] = []
    sim.on("trades", heard.append)
    soon_queue = d.s["carol"].subscribe_trades(SOON)
    for price in ("100", "101", "102"):
        trade(d, SOON, price)
    trade(d, LATER, "50")

    soon = [t for t in heard if t.symbol == SOON]
    assert [t.seq for t in soon] == [1, 2, 3]
    assert [t.seq for t in heard if t.symbol == LATER] == [1]
    journal_seqs = [row["seq"] for row in sim.trades(SOON)]  # the export's journal seqs
    assert [t.journal_seq for t in soon] == journal_seqs
    assert numbers(soon_queue.drain()) == numbers(soon)

    alice = d.s["alice"]
    assert numbers(alice.get_trades(SOON)) == numbers(soon)
    assert numbers(alice.get_trades(SOON, from_seq=2, limit=1)) == numbers(soon[1:2])
    assert alice.get_trades("ETH-NOT-LISTED") == ()
    for limit in (0, 1001):
        with pytest.raises(HcxError) as bad:
            alice.get_trades(SOON, limit=limit)
        assert (bad.value.code, bad.value.field) == ("invalid_field", "limit")
    with pytest.raises(HcxError) as bad_from:
        alice.get_trades(SOON, from_seq=0)
    assert bad_from.value.field == "from_seq"

    twin = sim.fork()
    trade(SimDriver(twin), SOON, "103")
    assert [t.seq for t in twin.session("alice").get_trades(SOON)] == [1, 2, 3, 4]
    assert [t.seq for t in alice.get_trades(SOON)] == [1, 2, 3]
    twin.close()
    sim.close()

    # What ``hcx serve`` loads from the file numbers the trades the same way.
    journal = Journal(path)
    try:
        served = TradeHistory.load(journal).page(SOON, 1, 1000)
    finally:
        journal.close()
    assert [(r.seq, r.journal_seq) for r in served] == [(t.seq, t.journal_seq) for t in soon]

    # Reopened, the history is the file's and goes on from it (SOON has expired by now).
    # (Another seed: the same one would make the same request ids, answered as repeats.)
    again = hcx.Simulator(clock=hcx.SimClock(START_MS + 60_000), seed=4, journal=path)
    d2 = SimDriver(again)
    assert numbers(d2.s["alice"].get_trades(SOON)) == numbers(soon)
    trade(d2, LATER, "51")
    assert [t.seq for t in d2.s["alice"].get_trades(LATER)] == [1, 2]
    again.close()
