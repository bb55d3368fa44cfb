"""A promoted standby's live state handed to the server on its journal
(``open_exchange(state=...)``): used as it is when the journal ends where the state does,
so a repeat is answered from the handed-over window and never executed again; recovered
from the journal instead when the journal has moved on past it."""

from __future__ import annotations

from pathlib import Path

from hcx.durability.journal import Journal
from hcx.durability.snapshots import snapshot_dir
from hcx.sequencing import Reply
from hcx.service.config import ServiceConfig
from hcx.service.recovery import recover_with_window
from hcx.service.supervisor import open_exchange
from tests.durability.market import listing, now_ms, order


def _state_of(config: ServiceConfig):  # type: ignore[no-untyped-def]
    journal = Journal(config.db)
    try:
        return recover_with_window(journal, snapshot_dir(config.db), config, child_allowed=False)
    finally:
        journal.close()


async def test_a_handed_over_state_is_served_and_answers_repeats(tmp_path: Path) -> None:
    config = ServiceConfig(db=str(tmp_path / "j.db"))
    async with open_exchange(config) as exchange:
        await exchange.submit_many(listing())  # type: ignore[arg-type]
        first = await exchange.submit("alice", "sell-1", now_ms(), order("sell", "100"))
    assert isinstance(first, Reply)
    state = _state_of(config)
    async with open_exchange(config, state=state) as exchange:
        assert exchange.recovered is state[0]
        assert exchange.engine is state[0].engine
        again = await exchange.submit("alice", "sell-1", now_ms(), order("sell", "100"))
        assert isinstance(again, Reply)
        assert (again.seq, again.result) == (first.seq, first.result)
        new = await exchange.submit("bob", "buy-1", now_ms(), order("buy", "100"))
        assert isinstance(new, Reply) and new.seq == first.seq + 1
    journal = Journal(config.db)
    try:
        assert journal.count() == first.seq + 1
    finally:
        journal.close()


async def test_a_state_behind_the_journal_is_not_used(tmp_path: Path) -> None:
    config = ServiceConfig(db=str(tmp_path / "j.db"))
    async with open_exchange(config) as exchange:
        await exchange.submit_many(listing())  # type: ignore[arg-type]
    state = _state_of(config)
    async with open_exchange(config) as exchange:
        later = await exchange.submit("alice", "sell-1", now_ms(), order("sell", "100"))
    assert isinstance(later, Reply)
    async with open_exchange(config, state=state) as exchange:
        assert exchange.recovered is not state[0]
        assert exchange.recovered.last_seq == later.seq
        again = await exchange.submit("alice", "sell-1", now_ms(), order("sell", "100"))
        assert isinstance(again, Reply) and again.seq == later.seq
