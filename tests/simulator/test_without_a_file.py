"""A Simulator without a journal file (no records, results kept for repeats) answers
exactly as one with a file: on random streams of orders, cancels, replaces, MMP, RFQ and
expiry, the same answers and digest; then every earlier request sent again gets the same
answer from both (its stored result while in the window, ``stale_request`` after), and
no repeat executes anything."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import hcx
from hcx.engine.commands import CancelAll
from tests.engine.helpers import examples
from tests.simulator.market import START_MS, Op, SimDriver
from tests.simulator.test_same_journal_as_open_exchange import ops


def _run(journal: str | None, seed: int, stream: list[Op]) -> tuple[list[Any], list[Any], str]:
    sim = hcx.Simulator(clock=hcx.SimClock(START_MS), seed=seed, journal=journal)
    answers = SimDriver(sim).run([("setup", ()), *stream])
    last_seq = sim.last_seq
    again = []
    for answer in answers:
        request_id, wallet = getattr(answer, "request_id", None), getattr(answer, "wallet", None)
        if request_id and wallet:
            # Any command under the same key is a repeat: answered by key, never run.
            again.append(sim.apply(wallet, request_id, answer.ts, CancelAll()))
    assert sim.last_seq == last_seq
    digest = sim.digest()
    sim.close()
    return answers, again, digest


@settings(
    max_examples=examples(12),
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(seed=st.integers(0, 3), stream=st.lists(ops, min_size=1, max_size=25))
def test_without_a_file_the_answers_and_repeats_are_the_same(
    tmp_path_factory: Any, seed: int, stream: list[Op]
) -> None:
    path = str(Path(tmp_path_factory.mktemp("file")) / "sim.db")
    assert _run(None, seed, stream) == _run(path, seed, stream)
