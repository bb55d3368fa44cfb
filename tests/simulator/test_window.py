"""The simulator's in-memory window of request keys remembers and forgets exactly what the
server's ``IdempotencyWindow`` does: on random streams of keys (many held twice) and times
(small and large steps), both give the same candidates at every point (the same seqs; the
caller confirms each, so their order within a generation is not part of the contract); a
copy is independent."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from hcx.durability.idempotency import IdempotencyWindow
from hcx.simulator.window import MemoryWindow
from tests.engine.helpers import examples

WINDOW_MS, FUTURE_MS = 10_000, 1_000


@given(
    st.lists(
        st.tuples(st.integers(-3, 3).filter(bool), st.integers(0, 12_000)),
        min_size=1,
        max_size=200,
    )
)
@settings(max_examples=examples(200), deadline=None)
def test_the_memory_window_remembers_what_the_servers_window_remembers(
    stream: list[tuple[int, int]],
) -> None:
    server, memory = IdempotencyWindow(WINDOW_MS, FUTURE_MS), MemoryWindow(WINDOW_MS, FUTURE_MS)
    ts = 1_000_000
    for seq, (key, step) in enumerate(stream, start=1):
        ts += step
        server.add(key, seq, ts)
        memory.add(key, seq, ts)
        assert len(memory) <= len(server)  # a key held twice is one dict entry
        for probe in range(-3, 4):
            assert sorted(memory.candidates(probe)) == sorted(server.candidates(probe))


def test_a_key_held_twice_names_both_seqs_and_a_copy_is_independent() -> None:
    window = MemoryWindow(WINDOW_MS, FUTURE_MS)
    window.add(7, 1, 0)
    window.add(7, 2, 10)
    window.add(7, 3, 20)
    assert window.candidates(7) == [1, 2, 3]
    twin = window.copy()
    twin.add(7, 4, 30)
    window.add(8, 5, 30)
    assert (window.candidates(7), twin.candidates(7)) == ([1, 2, 3], [1, 2, 3, 4])
    assert twin.candidates(8) == []
    window.add(9, 6, 30 + WINDOW_MS + FUTURE_MS + 2 * window.span_ms)
    assert window.candidates(7) == [] and window.candidates(9) == [6]
