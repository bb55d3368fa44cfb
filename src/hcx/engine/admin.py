"""Money and venue commands: deposits, withdrawals, listing, index prices, halts, resumes.

Admin authority is checked by the service before a command is sequenced; here only the
engine's own rules apply. Each answers ``AdminResult`` (``BalanceResult`` for a withdraw).
"""

from __future__ import annotations

from hcx.engine.accounts import Wallet
from hcx.engine.changes import Changes
from hcx.engine.commands import (
    CreateInstrument,
    Deposit,
    Envelope,
    HaltInstrument,
    ResumeInstrument,
    SetIndexPrice,
    Tick,
    Withdraw,
)
from hcx.engine.instruments import Instrument, instrument_from_command, invalid_terms
from hcx.engine.outputs import AdminResult, AdminStatus, BalanceResult, IndexPrice, InstrumentUpdate
from hcx.engine.state import EngineState


def deposit(state: EngineState, env: Envelope, cmd: Deposit, ch: Changes) -> AdminResult:
    if cmd.amount <= 0:
        return _admin(env, "Deposit", "invalid_amount")
    if not cmd.wallet:
        return _admin(env, "Deposit", "invalid_wallet")
    wallet = state.wallet(cmd.wallet)
    wallet.total += cmd.amount
    state.deposited += cmd.amount
    ch.wallets[wallet.name] = wallet
    return _admin(env, "Deposit", None)


def withdraw(state: EngineState, env: Envelope, cmd: Withdraw, ch: Changes) -> BalanceResult:
    wallet = state.wallets.get(env.wallet)
    if wallet is not None:
        _refresh_collateral(state, wallet, ch)
    total = wallet.total if wallet is not None else 0
    reserved = wallet.reserved if wallet is not None else 0
    reason = None
    if cmd.amount <= 0:
        reason = "invalid_amount"
    elif wallet is None or cmd.amount > wallet.available:
        reason = "insufficient_balance"
    if reason is not None:
        return BalanceResult(
            env.request_id,
            env.wallet,
            "rejected",
            reason,
            total,
            total - reserved,
            reserved,
            env.seq,
        )
    assert wallet is not None
    wallet.total -= cmd.amount
    state.withdrawn += cmd.amount
    ch.wallets[wallet.name] = wallet
    return BalanceResult(
        env.request_id,
        env.wallet,
        "ok",
        None,
        wallet.total,
        wallet.available,
        wallet.reserved,
        env.seq,
    )


def _refresh_collateral(state: EngineState, wallet: Wallet, ch: Changes) -> None:
    """Recompute every exposure's collateral at the current index prices, so a withdrawal
    cannot take what an index move has made the positions need."""
    for symbol, exposure in wallet.exposures.items():
        required = exposure.requirement(state.margin_per_contract(state.instruments[symbol]))
        if required != exposure.required:
            wallet.reserved += required - exposure.required
            exposure.required = required
            ch.wallets[wallet.name] = wallet


def create_instrument(
    state: EngineState, env: Envelope, cmd: CreateInstrument, ch: Changes
) -> AdminResult:
    inst = instrument_from_command(cmd, state.config)
    existing = state.instruments.get(cmd.symbol)
    if existing is not None:
        # Listing the same terms twice is harmless (a retried script); other terms are not.
        same = existing.terms() == inst.terms()
        return _admin(env, "CreateInstrument", None if same else "instrument_exists")
    reason = invalid_terms(inst, state.config)
    if reason is not None:
        return _admin(env, "CreateInstrument", reason)
    state.list_instrument(inst)
    ch.events.append(instrument_update(inst, env.seq))
    return _admin(env, "CreateInstrument", None)


def set_index_price(
    state: EngineState, env: Envelope, cmd: SetIndexPrice, ch: Changes
) -> AdminResult:
    if cmd.price <= 0:
        return _admin(env, "SetIndexPrice", "invalid_price")
    if cmd.vol is not None and cmd.vol <= 0:
        return _admin(env, "SetIndexPrice", "invalid_vol")
    state.index_prices[cmd.underlying] = cmd.price
    if cmd.vol is not None:
        state.index_vols[cmd.underlying] = cmd.vol
    for symbol in state.by_underlying.get(cmd.underlying, ()):
        state.margin_cache.pop(symbol, None)
    ch.events.append(IndexPrice(cmd.underlying, cmd.price, env.ts_ms, env.seq))
    return _admin(env, "SetIndexPrice", None)


def halt_instrument(
    state: EngineState, env: Envelope, cmd: HaltInstrument, ch: Changes
) -> AdminResult:
    inst = state.instruments.get(cmd.symbol)
    if inst is None:
        return _admin(env, "HaltInstrument", "unknown_symbol")
    if inst.status in ("expired", "settled"):
        return _admin(env, "HaltInstrument", "instrument_not_active")
    if inst.status == "active":
        inst.status = "halted"
        ch.events.append(instrument_update(inst, env.seq))
    return _admin(env, "HaltInstrument", None)


def resume_instrument(
    state: EngineState, env: Envelope, cmd: ResumeInstrument, ch: Changes
) -> AdminResult:
    """The inverse of a halt; like a halt, repeating it changes nothing and is ``ok``. An
    instrument past its expiry is expired (applied before this runs), never resumed."""
    inst = state.instruments.get(cmd.symbol)
    if inst is None:
        return _admin(env, "ResumeInstrument", "unknown_symbol")
    if inst.status in ("expired", "settled"):
        return _admin(env, "ResumeInstrument", "instrument_not_active")
    if inst.status == "halted":
        inst.status = "active"
        ch.events.append(instrument_update(inst, env.seq))
    return _admin(env, "ResumeInstrument", None)


def instrument_update(inst: Instrument, seq: int) -> InstrumentUpdate:
    return InstrumentUpdate(
        inst.symbol,
        inst.underlying,
        inst.expiry_ms,
        inst.strike,
        inst.option,
        inst.tick_size,
        inst.lot_size,
        inst.multiplier,
        inst.maker_fee_bps,
        inst.taker_fee_bps,
        inst.status,
        seq,
    )


def tick(state: EngineState, env: Envelope, cmd: Tick, ch: Changes) -> AdminResult:
    # What is due at ``env.ts_ms`` already happened in ``apply``, ahead of any command.
    return _admin(env, "Tick", None)


def _admin(env: Envelope, command: str, reason: str | None) -> AdminResult:
    status: AdminStatus = "ok" if reason is None else "rejected"
    return AdminResult(env.request_id, env.wallet, command, status, reason, env.seq)
