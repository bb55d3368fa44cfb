"""The Simulator's journal: committed in groups, an ordinary hcx journal (``hcx replay
--verify`` checks it, ``open_exchange``/``hcx serve`` continue it), deterministic; and
exports of any journal (``hcx export``) equal to the simulator's own rows."""

from __future__ import annotations

import csv
import io
import json
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
import trio

import hcx
from hcx.cli import main as cli
from tests.simulator.market import LATER, SOON, SOON_MS, START_MS, SimDriver, journal_rows


def trade_a_little(sim: hcx.Simulator) -> SimDriver:
    d = SimDriver(sim)
    d.one("setup", ())
    for step in range(6):
        sim.advance(1_000)
        d.s["alice"].place_order(SOON, "sell", f"{100 + step % 3}", "2")
        d.s["bob"].place_order(SOON, "buy", "101", "1", tif="ioc")
        d.s["carol"].place_order(LATER, "buy", f"{50 + step}", "1")
    d.s["carol"].cancel_all(underlying="ETH")
    sim.set_time(SOON_MS)
    return d


def test_rows_are_committed_in_groups_and_at_flush(tmp_path: Path) -> None:
    path = str(tmp_path / "sim.db")
    sim = hcx.Simulator(clock=hcx.SimClock(START_MS), journal=path, commit_every=4)
    d = SimDriver(sim)
    d.one("setup", ())  # 6 records: one group of 4 committed, 2 pending
    assert len(journal_rows(path)) == 4
    result = d.s["alice"].place_order(SOON, "buy", "90", "1")
    assert result.seq == 7  # the answer came before its commit
    assert len(journal_rows(path)) == 4
    sim.flush()
    assert [row[0] for row in journal_rows(path)] == [1, 2, 3, 4, 5, 6, 7]
    d.s["alice"].place_order(SOON, "buy", "91", "1")
    sim.close()
    assert len(journal_rows(path)) == 8


def test_the_journal_is_ordinary_replay_verifies_and_the_server_continues_it(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = str(tmp_path / "sim.db")
    sim = hcx.Simulator(clock=hcx.SimClock(START_MS), seed=4, journal=path)
    trade_a_little(sim)
    digest, last_seq = sim.digest(), sim.last_seq
    sim.close()
    assert cli(["replay", "--db", path, "--verify"]) == 0
    assert f"digest: {digest}" in capsys.readouterr().out

    # The simulator resumes its own journal ...
    again = hcx.Simulator(clock=hcx.SimClock(SOON_MS), seed=4, journal=path)
    assert (again.digest(), again.last_seq) == (digest, last_seq)
    again.session("dave").place_order(LATER, "buy", "1", "1")
    again.close()

    # ... and so does the server's pipeline (``hcx serve --db`` and ``open_exchange``).
    async def serve_on() -> int:
        clock = hcx.SimClock(SOON_MS + 1_000)
        async with (
            hcx.open_exchange(path, clock=clock) as exchange,
            exchange.session("erin") as erin,
        ):
            result = await erin.place_order(LATER, "buy", "1", "1")
            return result.seq

    assert trio.run(serve_on) == last_seq + 2
    assert cli(["replay", "--db", path, "--verify"]) == 0


def test_same_seed_clock_and_calls_give_the_same_bytes_and_digest(tmp_path: Path) -> None:
    runs = []
    for name in ("a", "b"):
        path = str(tmp_path / f"{name}.db")
        sim = hcx.Simulator(clock=hcx.SimClock(START_MS), seed=9, journal=path)
        trade_a_little(sim)
        digest = sim.digest()
        sim.close()
        runs.append((journal_rows(path), digest))
    assert len(runs[0][0]) > 20
    assert runs[0] == runs[1]
    in_memory = hcx.Simulator(clock=hcx.SimClock(START_MS), seed=9)
    trade_a_little(in_memory)
    assert in_memory.digest() == runs[0][1]


def test_exports_of_the_journal_equal_the_simulators_rows(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = str(tmp_path / "sim.db")
    sim = hcx.Simulator(clock=hcx.SimClock(START_MS), seed=2, journal=path)
    trade_a_little(sim)
    trades, fills, orders = sim.trades(), sim.fills(), sim.orders()
    assert len(trades) >= 3 and len(fills) == 2 * len(trades)
    assert {row["wallet"] for row in sim.fills("bob")} == {"bob"}
    sim.close()

    capsys.readouterr()
    assert cli(["export", "--db", path, "trades", "--format", "jsonl"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert [json.loads(line) for line in lines] == trades

    out = tmp_path / "fills.csv"
    assert cli(["export", "--db", path, "fills", "--format", "csv", "--out", str(out)]) == 0
    table = list(csv.DictReader(io.StringIO(out.read_text())))
    assert [row["fill_id"] for row in table] == [str(row["fill_id"]) for row in fills]
    assert [row["price"] for row in table] == [row["price"] for row in fills]

    assert cli(["export", "--db", path, "orders", "--format", "jsonl"]) == 0
    exported = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert exported == orders
    assert any(row["reason"] == "instrument_not_active" for row in exported)


def test_export_of_a_missing_journal_is_a_usage_error(tmp_path: Path) -> None:
    assert cli(["export", "--db", str(tmp_path / "none.db"), "trades"]) == 2


def test_an_engine_fault_stops_the_simulator_and_the_request_is_refused_after(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from hcx.engine.engine import Engine
    from hcx.sequencing import EngineFault

    path = str(tmp_path / "sim.db")
    sim = hcx.Simulator(clock=hcx.SimClock(START_MS), journal=path, commit_every=100)
    d = SimDriver(sim)
    d.one("setup", ())
    kept = d.s["alice"].place_order(SOON, "buy", "90", "1")
    real_apply = Engine.apply

    def broken(self: Engine, envelope: object) -> object:
        if getattr(envelope, "request_id", None) == BAD:
            raise ZeroDivisionError("a bug")
        return real_apply(self, envelope)  # type: ignore[arg-type]

    monkeypatch.setattr(Engine, "apply", broken)
    with pytest.raises(EngineFault):
        d.s["bob"].place_order(SOON, "buy", "91", "1", request_id=BAD)
    with pytest.raises(hcx.SimulatorClosed, match="stopped"):
        d.s["bob"].place_order(SOON, "buy", "92", "1")
    assert [row[0] for row in journal_rows(path)][-1] == kept.seq  # what was told is kept
    monkeypatch.setattr(Engine, "apply", real_apply)
    again = hcx.Simulator(clock=hcx.SimClock(START_MS), journal=path)
    with pytest.raises(hcx.client.HcxError) as refused:
        again.session("bob").place_order(SOON, "buy", "91", "1", request_id=BAD)
    assert refused.value.code == "internal"
    assert again.last_seq == kept.seq
    again.close()


BAD = "00000000-0000-4000-8000-0000000000ba"


def test_a_failed_commit_stops_the_simulator(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from hcx.durability.errors import DurabilityError
    from hcx.durability.journal import Journal

    sim = hcx.Simulator(
        clock=hcx.SimClock(START_MS), journal=str(tmp_path / "sim.db"), commit_every=1
    )
    d = SimDriver(sim)
    d.one("setup", ())

    def full(self: Journal, rows: object) -> None:
        raise DurabilityError("disk full")

    monkeypatch.setattr(Journal, "append", full)
    with pytest.raises(DurabilityError):
        d.s["alice"].place_order(SOON, "buy", "90", "1")
    with pytest.raises(hcx.SimulatorClosed, match="disk full"):
        d.s["alice"].place_order(SOON, "buy", "91", "1")


def _first_run(path: str) -> Any:
    sim = hcx.Simulator(clock=hcx.SimClock(START_MS), seed=5, journal=path)
    d = SimDriver(sim)
    d.one("setup", ())
    first = d.s["alice"].place_order(SOON, "buy", "90", "1")
    sim.close()
    return first


def _reopened(path: str, first: Any) -> list[str]:
    """The same seed and wallets again, within the window of the first run's requests
    (a reused request id would be answered as a repeat): every call is executed."""
    again = hcx.Simulator(clock=hcx.SimClock(START_MS + 1_000), seed=5, journal=path)
    before = again.last_seq
    placed = again.session("alice").place_order(SOON, "buy", "91", "2")
    deposited = again.session("admin").deposit("bob", "5")
    assert (placed.seq, deposited.seq) == (before + 1, before + 2)
    assert placed.order_id != first.order_id and placed.price == Decimal("91")
    again.close()
    rows = journal_rows(path)
    assert len(rows) == before + 2
    held = {row[2] for row in rows[:before]}  # the request keys of the first run
    assert not {rows[before][2], rows[before + 1][2]} & held
    return [placed.request_id, deposited.request_id]


def test_a_reopened_simulator_continues_its_seeded_ids_past_the_journal(
    tmp_path: Path,
) -> None:
    path = str(tmp_path / "a.db")
    ids = _reopened(path, _first_run(path))
    assert len(set(ids)) == 2
    # Deterministic: the same journal, seed and calls give the same ids again.
    other = str(tmp_path / "b.db")
    assert _reopened(other, _first_run(other)) == ids
