"""The MMP commands: ``SetMmp`` configures protection for (sender, underlying),
``ResetMmp`` lifts a freeze. The fill accounting itself is in ``matching``."""

from __future__ import annotations

from hcx.engine.changes import Changes
from hcx.engine.commands import Envelope, ResetMmp, SetMmp
from hcx.engine.mmp import MmpState
from hcx.engine.outputs import MmpResult
from hcx.engine.state import EngineState


def _invalid(cmd: SetMmp) -> bool:
    limits = [limit for limit in (cmd.qty_limit, cmd.delta_limit) if limit is not None]
    return cmd.interval_ms <= 0 or cmd.frozen_ms < 0 or not limits or min(limits) <= 0


def set_mmp(state: EngineState, env: Envelope, cmd: SetMmp, ch: Changes) -> MmpResult:
    reason = None
    if cmd.underlying not in state.by_underlying:
        reason = "unknown_underlying"
    elif _invalid(cmd):
        reason = "invalid_limits"
    key = (env.wallet, cmd.underlying)
    if reason is not None:
        return _result(state, env, cmd.underlying, reason)
    existing = state.mmp.get(key)
    protection = MmpState(
        cmd.interval_ms, cmd.frozen_ms, cmd.qty_limit, cmd.delta_limit, cmd.enabled
    )
    if existing is not None:
        # New limits do not lift a freeze: only ResetMmp (or time) does.
        protection.frozen_until = existing.frozen_until
    state.mmp[key] = protection
    return _result(state, env, cmd.underlying, None)


def reset_mmp(state: EngineState, env: Envelope, cmd: ResetMmp, ch: Changes) -> MmpResult:
    protection = state.mmp.get((env.wallet, cmd.underlying))
    if protection is None:
        return _result(state, env, cmd.underlying, "mmp_not_set")
    protection.frozen_until = 0
    protection.clear_window()
    return _result(state, env, cmd.underlying, None)


def _result(state: EngineState, env: Envelope, underlying: str, reason: str | None) -> MmpResult:
    protection = state.mmp.get((env.wallet, underlying))
    frozen = protection.frozen_until_ms(env.ts_ms) if protection is not None else None
    return MmpResult(
        env.request_id,
        env.wallet,
        "ok" if reason is None else "rejected",
        reason,
        underlying,
        frozen,
        env.seq,
    )
