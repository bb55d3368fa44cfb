"""The Simulator and ``open_exchange`` given the same calls (awaited one after another
on the latter) write the same journal, byte for byte, and give the same answers."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import trio
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import hcx
from tests.engine.helpers import examples
from tests.simulator.market import (
    START_MS,
    SYMBOLS,
    TRADERS,
    Op,
    SimDriver,
    journal_rows,
    run_open_exchange,
)

prices = st.integers(1, 60).map(lambda n: f"{n / 10 + 95:.1f}")
sizes = st.integers(1, 30).map(lambda n: f"{n / 10:.1f}")
traders = st.sampled_from(TRADERS)
order_ids = st.integers(1, 12)

ops = st.one_of(
    st.tuples(
        st.just("place"),
        st.tuples(
            traders,
            st.sampled_from(SYMBOLS),
            st.sampled_from(("buy", "sell")),
            prices,
            sizes,
            st.sampled_from((None, "ioc", "fok")),
            st.sampled_from((None, True)),
        ),
    ),
    st.tuples(st.just("cancel"), st.tuples(traders, order_ids)),
    st.tuples(st.just("replace"), st.tuples(traders, order_ids, prices, sizes)),
    st.tuples(st.just("cancel_all"), st.tuples(traders)),
    st.tuples(st.just("set_mmp"), st.tuples(traders)),
    st.tuples(st.just("reset_mmp"), st.tuples(traders)),
    st.tuples(st.just("advance"), st.tuples(st.integers(0, 12_000))),
    st.tuples(
        st.just("rfq"),
        st.tuples(traders, traders, sizes, prices, st.booleans()).filter(lambda t: t[0] != t[1]),
    ),
)


def _both(tmp: Path, seed: int, stream: list[Op]) -> tuple[Any, Any, Any, Any]:
    sim_path, open_path = str(tmp / "sim.db"), str(tmp / "open.db")
    sim = hcx.Simulator(clock=hcx.SimClock(START_MS), seed=seed, journal=sim_path)
    driver = SimDriver(sim)
    sim_answers = driver.run([("setup", ()), *stream])
    sim_digest = sim.digest()
    sim.close()
    open_answers = trio.run(
        run_open_exchange, open_path, seed, [("setup", ()), *stream], driver.ticks
    )
    return (
        (journal_rows(sim_path), sim_answers, sim_digest),
        (journal_rows(open_path), open_answers),
        sim_path,
        open_path,
    )


@settings(
    max_examples=examples(12),
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(seed=st.integers(0, 3), stream=st.lists(ops, min_size=1, max_size=25))
def test_random_streams_write_the_same_journal(
    tmp_path_factory: Any, seed: int, stream: list[Op]
) -> None:
    tmp = tmp_path_factory.mktemp("same")
    (sim_rows, sim_answers, _), (open_rows, open_answers), _, _ = _both(tmp, seed, stream)
    assert sim_rows == open_rows
    assert sim_answers == open_answers


def test_a_stream_with_fills_expiry_mmp_and_rfq_matches(tmp_path: Path) -> None:
    stream: list[Op] = [
        ("set_mmp", ("alice",)),
        ("place", ("alice", SYMBOLS[0], "sell", "100.0", "1.0", None, True)),
        ("place", ("alice", SYMBOLS[1], "sell", "100.0", "1.5", None, True)),
        ("place", ("bob", SYMBOLS[0], "buy", "100.0", "0.4", "ioc", None)),
        ("place", ("bob", SYMBOLS[1], "buy", "101.0", "2.0", None, None)),
        ("replace", ("bob", 4, "99.0", "1.0")),
        ("rfq", ("carol", "alice", "1.0", "98.5", True)),
        ("rfq", ("carol", "bob", "0.5", "97.5", False)),
        ("place", ("carol", SYMBOLS[0], "buy", "99.0", "1.0", None, None)),
        ("advance", (31_000,)),  # past the short-dated expiry: its orders are canceled
        ("cancel", ("bob", 5)),
        ("advance", (5_000,)),
        ("cancel_all", ("alice",)),
    ]
    (sim_rows, sim_answers, _), (open_rows, open_answers), _, _ = _both(tmp_path, 3, stream)
    kinds = [a.status for a in sim_answers if isinstance(a, hcx.client.OrderResult)]
    assert "filled" in kinds or "partially_filled" in kinds
    assert any(isinstance(a, hcx.client.RfqResult) and a.status == "filled" for a in sim_answers)
    ticks = [
        a for a in sim_answers if isinstance(a, hcx.client.AdminResult) and a.command == "Tick"
    ]
    assert len(ticks) == 1
    assert len(sim_rows) > 15
    assert sim_rows == open_rows
    assert sim_answers == open_answers
