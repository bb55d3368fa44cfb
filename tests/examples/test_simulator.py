"""The simulation examples run, are deterministic per seed and conserve money; the
``hcx.Simulator`` one prints the same table as the ``open_exchange`` one; the backtest
gives the same digest through either."""

from __future__ import annotations

import contextlib
import importlib.util
import io
import re
from decimal import Decimal
from pathlib import Path
from types import ModuleType

import trio

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
EXAMPLE = EXAMPLES / "simulator_open_exchange.py"


def _module(path: Path = EXAMPLE) -> ModuleType:
    spec = importlib.util.spec_from_file_location(f"hcx_example_{path.stem}", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _run(seed: int, db: str | None = None) -> str:
    output = io.StringIO()
    with contextlib.redirect_stdout(output):
        trio.run(_module().main, seed, 360, db)
    return output.getvalue()


def _table(text: str) -> dict[str, tuple[Decimal, Decimal, Decimal]]:
    rows = {}
    for line in text.splitlines()[1:6]:
        name, _cash, pnl, volume, fees = line.split()
        rows[name] = tuple(Decimal(v.replace(",", "")) for v in (pnl, volume, fees))
    return rows  # type: ignore[return-value]


def test_simulation_is_deterministic_and_conserves_money(tmp_path: Path) -> None:
    first = _run(7)
    assert _run(7) == first
    assert _run(7, str(tmp_path / "sim.db")) == first  # a durable journal changes nothing
    assert _run(8) != first
    rows = _table(first)
    assert set(rows) == {"maker", "noise-1", "noise-2", "noise-3", "rfq-taker"}
    assert all(volume > 0 for _, volume, _ in rows.values())
    pnl = sum(p for p, _, _ in rows.values())
    fees = sum(f for _, _, f in rows.values())
    # Cash moves between agents; the only money that leaves them is fees (and rounding
    # dust at settlement, under a cent here).
    assert abs(pnl + fees) < Decimal("0.01")
    summary = re.search(r"(\d+) RFQ blocks, (\d+) MMP trips", first)
    assert summary is not None
    assert int(summary.group(1)) > 0 and int(summary.group(2)) > 0


def _run_simulator(seed: int, db: str | None = None) -> str:
    output = io.StringIO()
    with contextlib.redirect_stdout(output):
        _module(EXAMPLES / "simulator.py").main(seed, 360, db)
    return output.getvalue()


def test_the_simulator_example_prints_the_open_exchange_examples_table(tmp_path: Path) -> None:
    first = _run_simulator(7)
    assert _run_simulator(7, str(tmp_path / "sim.db")) == first
    assert _run_simulator(8) != first
    # The same market, the same table; only the digest line differs (the Simulator
    # expires the chain by a journaled Tick at expiry, one more record in its state).
    assert first.splitlines()[:7] == _run(7).splitlines()[:7]
    assert "state digest" in first.splitlines()[7]


def test_the_backtest_gives_the_same_digest_through_either_exchange(tmp_path: Path) -> None:
    backtest = _module(EXAMPLES / "backtest.py")
    orders = tmp_path / "orders.csv"
    assert backtest.main(["--make-csv", str(orders), "--rows", "400", "--seed", "3"]) == 0
    outputs = []
    for via in ("simulator", "open_exchange"):
        output = io.StringIO()
        with contextlib.redirect_stdout(output):
            backtest.main(["--csv", str(orders), "--via", via])
        outputs.append(output.getvalue())
    lines = [text.splitlines() for text in outputs]
    assert lines[0][0].startswith("400 order events")
    assert "filled" in lines[0][1]
    assert lines[0][1:4] == lines[1][1:4]  # outcomes, P&L and the state digest
    assert lines[0][3].startswith("state digest ")
