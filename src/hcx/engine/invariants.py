"""Invariants of the engine state that every command must keep; checks them, never repairs.

* Money is conserved: what the wallets hold plus the fees collected equals what was
  deposited minus what was withdrawn (trades, fees and settlement only move cash).
* No book is crossed: a resting bid below every resting ask (a crossing order trades
  or does not rest).

``violations`` is O(wallets + books). ``hcx replay --verify`` checks it on the state it
rebuilt, and the crash campaigns on every journal they judge.
"""

from __future__ import annotations

from hcx.engine.state import EngineState


def violations(state: EngineState) -> list[str]:
    """One line per broken invariant; empty when all hold."""
    problems: list[str] = []
    held = sum(wallet.total for wallet in state.wallets.values()) + state.fees_collected
    net_in = state.deposited - state.withdrawn
    if held != net_in:
        problems.append(f"money not conserved: totals+fees {held} != deposited-withdrawn {net_in}")
    for symbol, book in state.books.items():
        bid, ask = book.bids.best_price(), book.asks.best_price()
        if bid is not None and ask is not None and bid >= ask:
            problems.append(f"book {symbol} is crossed: bid {bid} >= ask {ask}")
    return problems
