"""``examples/simulator.py`` runs, is deterministic per seed, and conserves money."""

from __future__ import annotations

import contextlib
import importlib.util
import io
import re
from decimal import Decimal
from pathlib import Path
from types import ModuleType

import trio

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "simulator.py"


def _module() -> ModuleType:
    spec = importlib.util.spec_from_file_location("hcx_example_simulator", EXAMPLE)
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
