"""Protection against a lost client: the dead-man's switch and cancel-on-disconnect.

Owns two per-wallet guards and the cancels they cause; it must never read a clock (time
is the envelope's ``ts_ms`` only, so replay gives the same cancels at the same seqs).

- ``CancelAfter {timeout_ms}`` sets the sender's deadline to ``ts_ms + timeout_ms`` (0
  clears it). Like expiry, a passed deadline is applied lazily: before any command whose
  envelope time has reached it, the wallet's open orders are canceled (reason
  ``cancel_after``) and the deadline is gone, so it fires once. The service sequences a
  a ``Tick`` when a deadline passes and nothing else is sequenced.
- ``ArmCancelOnDisconnect {session}`` records a connection that opted in;
  ``SessionClosed {session}`` (sequenced by the gateway after that connection closed, or
  at start for every session still armed, since a restart closed them all) cancels the
  wallet's open orders (reason ``cancel_on_disconnect``) and forgets the session. A
  session closed twice cancels nothing the second time.
"""

from __future__ import annotations

from hcx.engine.changes import Changes
from hcx.engine.commands import (
    ArmCancelOnDisconnect,
    CancelAfter,
    Envelope,
    SessionClosed,
)
from hcx.engine.matching import cancel_resting
from hcx.engine.outputs import AdminResult, CancelAfterResult
from hcx.engine.state import NO_DEADLINE, EngineState

MAX_TIMEOUT_MS = 86_400_000  # a day


def fire_due(state: EngineState, ch: Changes, ts_ms: int) -> None:
    """Cancel the orders of every wallet whose deadline ``ts_ms`` has reached."""
    due = sorted(w for w, deadline in state.cancel_after.items() if deadline <= ts_ms)
    for wallet in due:
        del state.cancel_after[wallet]
        _cancel_orders(state, ch, wallet, "cancel_after")
    state.cancel_after_next = min(state.cancel_after.values(), default=NO_DEADLINE)


def cancel_after(
    state: EngineState, env: Envelope, cmd: CancelAfter, ch: Changes
) -> CancelAfterResult:
    if not 0 <= cmd.timeout_ms <= MAX_TIMEOUT_MS:
        return CancelAfterResult(
            env.request_id, env.wallet, "rejected", "invalid_timeout", None, env.seq
        )
    deadline = None
    if cmd.timeout_ms == 0:
        state.cancel_after.pop(env.wallet, None)
    else:
        deadline = env.ts_ms + cmd.timeout_ms
        state.cancel_after[env.wallet] = deadline
    state.cancel_after_next = min(state.cancel_after.values(), default=NO_DEADLINE)
    return CancelAfterResult(env.request_id, env.wallet, "ok", None, deadline, env.seq)


def arm(state: EngineState, env: Envelope, cmd: ArmCancelOnDisconnect, ch: Changes) -> AdminResult:
    state.disconnect_sessions[cmd.session] = env.wallet
    return AdminResult(env.request_id, env.wallet, "ArmCancelOnDisconnect", "ok", None, env.seq)


def session_closed(
    state: EngineState, env: Envelope, cmd: SessionClosed, ch: Changes
) -> AdminResult:
    wallet = state.disconnect_sessions.pop(cmd.session, None)
    if wallet is not None:
        _cancel_orders(state, ch, wallet, "cancel_on_disconnect")
    return AdminResult(env.request_id, env.wallet, "SessionClosed", "ok", None, env.seq)


def _cancel_orders(state: EngineState, ch: Changes, name: str, reason: str) -> None:
    wallet = state.wallets.get(name)
    if wallet is None:
        return
    for order in sorted(wallet.open_orders.values(), key=lambda o: o.order_id):
        cancel_resting(state, ch, order, state.instruments[order.symbol], reason)
