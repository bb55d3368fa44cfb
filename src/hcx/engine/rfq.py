"""RFQ execution: a quote's legs between taker and quoter, all at the quoted prices or none.

The quote itself lives in the service's memory (quotes are not journaled); when the taker
accepts, the service sends ``AcceptQuote`` carrying the quote's terms, and that command is
journaled. The engine checks, in order: the quote was known to the service (``unknown_quote`` when
it sent no legs), taker and quoter differ (``self_trade``), the
quote has not expired (``quote_expired``), the RFQ has not been filled already
(``quote_already_filled``), every leg's instrument, price and size (``unknown_symbol``,
``instrument_not_active``, ``invalid_price``, ``invalid_size``), the quoter's MMP
(``mmp_frozen``), then both wallets' collateral after all legs (``insufficient_balance``).
Fills pay the taker fee (taker) and the maker fee (quoter), carry the RFQ's ids, and count
toward the quoter's MMP when the quote asked for it.
"""

from __future__ import annotations

from hcx.engine.accounts import Exposure, Wallet, apply_fill
from hcx.engine.changes import Changes
from hcx.engine.commands import AcceptQuote, Envelope
from hcx.engine.instruments import Instrument
from hcx.engine.matching import record_mmp_fill
from hcx.engine.numbers import fee_for
from hcx.engine.outputs import RfqResult
from hcx.engine.state import EngineState
from hcx.engine.trade import book_trade

MAX_LEGS = 4
# Far longer than any RFQ lives (the service's RFQ TTL, 30 s by default), and every quote of
# an RFQ expires with it at the latest.
FILLED_RFQ_MEMORY_MS = 86_400_000


def accept_quote(state: EngineState, env: Envelope, cmd: AcceptQuote, ch: Changes) -> RfqResult:
    reason = _refusal(state, env, cmd)
    if reason is not None:
        return RfqResult(
            env.request_id,
            env.wallet,
            cmd.rfq_id,
            cmd.quote_id,
            "rejected",
            None,
            reason,
            env.seq,
        )
    state.filled_rfqs[cmd.rfq_id] = cmd.expires_ms
    taker = state.wallet(env.wallet)
    quoter = state.wallet(cmd.quoter)
    first_fill = state.next_fill_id
    for symbol, taker_side, size, price in cmd.legs:
        inst = state.instruments[symbol]
        quoter_side = "sell" if taker_side == "buy" else "buy"
        book_trade(
            state,
            ch,
            inst,
            price,
            size,
            taker_side,
            (taker, taker.exposure(symbol), taker_side, "taker", None),
            (quoter, quoter.exposure(symbol), quoter_side, "maker", None),
            cmd.rfq_id,
            cmd.quote_id,
        )
        if cmd.quoter_mmp:
            record_mmp_fill(state, ch, cmd.quoter, inst, quoter_side, size, None)
    return RfqResult(
        env.request_id,
        env.wallet,
        cmd.rfq_id,
        cmd.quote_id,
        "filled",
        first_fill,
        None,
        env.seq,
    )


def _refusal(state: EngineState, env: Envelope, cmd: AcceptQuote) -> str | None:
    if not cmd.legs:
        return "unknown_quote"
    if cmd.quoter == env.wallet:
        return "self_trade"
    if env.ts_ms > cmd.expires_ms:
        return "quote_expired"
    _forget_expired(state, env.ts_ms)
    if cmd.rfq_id in state.filled_rfqs:
        return "quote_already_filled"
    if not 1 <= len(cmd.legs) <= MAX_LEGS:
        return "invalid_legs"
    instruments: list[Instrument] = []
    for symbol, side, size, price in cmd.legs:
        inst = state.instruments.get(symbol)
        if inst is None:
            return "unknown_symbol"
        if not inst.is_trading(env.ts_ms):
            return "instrument_not_active"
        if price <= 0 or price % inst.tick_size:
            return "invalid_price"
        if size <= 0 or size % inst.lot_size or side not in ("buy", "sell"):
            return "invalid_size"
        instruments.append(inst)
    if cmd.quoter_mmp:
        for inst in instruments:
            mmp = state.mmp.get((cmd.quoter, inst.underlying))
            if mmp is not None and mmp.enabled and mmp.is_frozen(env.ts_ms):
                return "mmp_frozen"
    for wallet_name, taker in ((env.wallet, True), (cmd.quoter, False)):
        if not _can_afford(state, wallet_name, cmd, taker):
            return "insufficient_balance"
    return None


def _can_afford(state: EngineState, name: str, cmd: AcceptQuote, taker: bool) -> bool:
    """Apply every leg to copies of the wallet's exposures; the wallet must still have a
    non-negative available balance, or at least not less than before."""
    wallet = state.wallets.get(name)
    if wallet is None:
        return False
    trial = Wallet(name, total=wallet.total)
    copies: dict[str, Exposure] = {}
    for symbol, taker_side, size, price in cmd.legs:
        inst = state.instruments[symbol]
        side = taker_side if taker else ("sell" if taker_side == "buy" else "buy")
        exposure = copies.get(symbol)
        if exposure is None:
            exposure = copies[symbol] = wallet.exposures.get(symbol, Exposure()).copy()
        premium = inst.premium(price, size)
        fee = fee_for(premium, inst.taker_fee_bps if taker else inst.maker_fee_bps)
        apply_fill(trial, exposure, side, size, premium, fee)
    reserved = wallet.reserved
    for symbol, exposure in copies.items():
        inst = state.instruments[symbol]
        before = wallet.exposures.get(symbol)
        reserved += exposure.requirement(state.margin_per_contract(inst)) - (
            before.required if before is not None else 0
        )
    available_after = trial.total - reserved
    return available_after >= 0 or available_after >= wallet.available


def _forget_expired(state: EngineState, ts_ms: int) -> None:
    """Filled RFQs are remembered for ``FILLED_RFQ_MEMORY_MS`` past the expiry of the
    quote that filled them. Not just until that expiry: another quote of the same RFQ
    may expire later, and must still find the RFQ filled."""
    filled = state.filled_rfqs
    while filled:
        rfq_id, expires_ms = next(iter(filled.items()))
        if expires_ms + FILLED_RFQ_MEMORY_MS >= ts_ms:
            break
        del filled[rfq_id]
