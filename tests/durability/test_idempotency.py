"""The idempotency window: what it remembers, for how long, and at what cost."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from hcx.durability.idempotency import _MOVE_STEP, IdempotencyWindow, _Table, request_key


def test_remembers_keys_within_the_window_and_forgets_older_ones() -> None:
    window = IdempotencyWindow(window_ms=60_000)
    key = request_key("alice", "r1")
    window.add(key, 1, ts_ms=0)
    assert window.candidates(key) == [1]
    for step in range(1, 200):
        window.add(request_key("bob", str(step)), step + 1, ts_ms=step * 1_000)
        if step * 1_000 <= 60_000 + 1_000:
            assert window.candidates(key) == [1], step
    assert window.candidates(key) == []


def test_key_depends_on_wallet_and_request() -> None:
    assert request_key("alice", "r1") != request_key("bob", "r1")
    assert request_key("alice", "r1") == request_key("alice", "r1")
    assert request_key("a", "b\x00c") != request_key("a\x00b", "c")
    assert request_key("ab", "c") != request_key("a", "bc")


def test_colliding_hashes_return_every_candidate() -> None:
    table = _Table(16)
    table.insert(5, 100)
    table.insert(5 + 16, 200)  # same slot, different key
    table.insert(5, 300)  # same key hash: both must come back
    found: list[int] = []
    table.find(5, found)
    assert sorted(found) == [100, 300]


def test_tables_grow_and_keep_everything() -> None:
    table = _Table(16)
    for n in range(1, 1_000):
        table.insert(n * 7919, n)
    for n in range(1, 1_000):
        out: list[int] = []
        table.find(n * 7919, out)
        assert out == [n]


def test_bytes_per_key_stay_at_most_64() -> None:
    window = IdempotencyWindow(window_ms=60_000)
    count = 200_000
    for n in range(count):
        window.add(request_key("w", str(n)), n + 1, ts_ms=n // 10)
    assert len(window) == count
    assert window.nbytes() / count <= 64


def test_rebuilding_in_bulk_remembers_what_adding_one_by_one_does() -> None:
    """The start-up rebuild (``add_all``) inlines ``add``: same generations holding the
    same keys (laid out differently: it moves a growing table's slots at once)."""
    rows = [(n + 1, n * 4, request_key("w", str(n))) for n in range(20_000)]
    rows.append((20_001, 19_999 * 4, rows[5][2]))  # a repeated key hash
    one_by_one = IdempotencyWindow(window_ms=60_000)
    for seq, ts, key in rows:
        one_by_one.add(key, seq, ts)
    bulk = IdempotencyWindow(window_ms=60_000)
    bulk.add_all(iter(rows))
    assert len(bulk._generations) == len(one_by_one._generations) > 1
    for (start_a, a), (start_b, b) in zip(bulk._generations, one_by_one._generations, strict=True):
        assert (start_a, a.count) == (start_b, b.count)
        assert a.old is None
        assert _remembered(a) == _remembered(b)
    assert bulk.candidates(rows[5][2]) == [20_001, 6]
    # And it goes on from there like the other.
    bulk.add(request_key("w", "later"), 20_002, 20_000 * 4)
    one_by_one.add(request_key("w", "later"), 20_002, 20_000 * 4)
    assert len(bulk) == len(one_by_one) == 20_002


@settings(max_examples=60, deadline=None)
@given(st.lists(st.integers(min_value=1, max_value=3_000), min_size=1, max_size=3_000))
def test_a_growing_table_finds_every_seq_of_every_key_at_every_step(hashes: list[int]) -> None:
    """Keys from a small space collide and repeat; growth moves old slots a few per
    insert, and every lookup in between must still see each seq exactly once."""
    table = _Table(16)
    expected: dict[int, list[int]] = {}
    for seq, raw in enumerate(hashes, start=1):
        key = raw * 0x9E3779B1 - 2**40  # spread over the slots, some negative
        table.insert(key, seq)
        expected.setdefault(key, []).append(seq)
        if table.old is not None or seq % 97 == 0:
            for probe in (key, *list(expected)[:: max(1, len(expected) // 8)]):
                found: list[int] = []
                table.find(probe, found)
                assert sorted(found) == expected[probe], (seq, probe)
        slots = table.mask + 1
        filled = sum(1 for at in range(slots) if table.keys[at])
        assert filled * 2 <= slots  # never over half full, even while moving
    assert table.count == len(hashes)


def test_growing_moves_old_slots_a_few_per_insert() -> None:
    table = _Table(1 << 12)
    key = 1
    while table.old is None:
        table.insert(key, key)
        key += 1
    old = table.old
    assert table.moved == 0 and old.mask + 1 == 1 << 12 and table.mask + 1 == 1 << 13
    inserts = 0
    while table.old is not None:
        before = table.moved
        table.insert(key, key)
        key += 1
        inserts += 1
        assert table.old is None or table.moved - before == _MOVE_STEP
    assert inserts == (1 << 12) // _MOVE_STEP
    for probe in (1, 2_000, key - 1):
        found: list[int] = []
        table.find(probe, found)
        assert found == [probe]


def _remembered(table: _Table) -> set[tuple[int, int]]:
    """Every (key, seq) a table holds, in its arrays and any old ones still moving."""
    held = {(k, s) for k, s in zip(table.keys, table.seqs, strict=True) if k}
    if table.old is not None:
        old = table.old
        held |= {
            (k, s)
            for at, (k, s) in enumerate(zip(old.keys, old.seqs, strict=True))
            if k and at >= table.moved
        }
    return held
