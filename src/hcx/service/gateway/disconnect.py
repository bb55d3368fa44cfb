"""Cancel-on-disconnect and the dead-man's switch, on the gateway's side.

Owns when the gateway sequences the engine's protection commands (``hcx.engine.deadman``
decides what they cancel): ``ArmCancelOnDisconnect`` when a session authenticates with
``cancel_on_disconnect: true``, ``SessionClosed`` once after that connection closed
(including a close for a missed heartbeat) and, at start, for every session the journal
still has armed (a restart closed them all), and a ``Tick`` when a ``CancelAfter``
deadline has passed with nothing sequenced. It must never cancel anything itself: every
cancel is a journaled engine command.

Request ids are derived from the session id (or the wallet and deadline), so a command
re-sent after a restart is a repeat the sequencer answers from the journal, and a closed
session is forgotten by the engine: nothing is canceled twice.
"""

from __future__ import annotations

import logging
import uuid
from typing import Any

import trio

from hcx.engine import Engine
from hcx.engine.commands import ArmCancelOnDisconnect, Command, SessionClosed, Tick
from hcx.engine.state import NO_DEADLINE
from hcx.service.entries import Pending, Submission
from hcx.service.gateway.services import SessionServices

log = logging.getLogger("hcx.gateway")
_NAMESPACE = uuid.UUID("3b0f1f5e-2f7a-4c55-9a43-6f1b3c0de5a1")
WATCH_INTERVAL_S = 0.02  # how often passed deadlines are looked for
CLOSE_SEND_TIMEOUT_S = 5.0


class _Ignore:
    """The waiter of a protection command: its events reach the wallet's channels."""

    __slots__ = ()

    def resolve(self, answer: Any) -> None:
        pass


def request_id(*parts: object) -> str:
    return str(uuid.uuid5(_NAMESPACE, ":".join(map(str, parts))))


async def _sequence(services: SessionServices, wallet: str, rid: str, command: Command) -> None:
    submission = Submission(wallet, rid, services.clock.now_ms(), command, _Ignore())
    await services.send([submission])


async def arm(services: SessionServices, session: Any) -> None:
    """Arm ``session`` (authenticated as its wallet): a fresh session id."""
    session.disconnect_id = session_id = str(uuid.uuid4())
    session.disconnect_wallet = wallet = session.wallet
    await _sequence(
        services, wallet, request_id("arm", session_id), ArmCancelOnDisconnect(session_id)
    )


async def closed(services: SessionServices, session: Any) -> None:
    """``session``'s connection closed: sequence its ``SessionClosed`` once. While the
    server stops the exchange may take nothing more; the start after it closes every
    session still armed."""
    session_id = session.disconnect_id
    if session_id is None or services.stopping:
        return
    session.disconnect_id = None
    wallet = session.disconnect_wallet
    with trio.move_on_after(CLOSE_SEND_TIMEOUT_S) as timer:
        timer.shield = True
        try:
            await _close(services, wallet, session_id)
        except (trio.BrokenResourceError, trio.ClosedResourceError):
            # The exchange stopped under us: the next start closes the session.
            log.info("session %s of %s left armed: the exchange stopped", session_id, wallet)


async def _close(services: SessionServices, wallet: str, session_id: str) -> None:
    await _sequence(services, wallet, request_id("closed", session_id), SessionClosed(session_id))


def _armed(engine: Engine) -> list[tuple[str, str]]:
    return sorted(engine.state.disconnect_sessions.items())


async def close_stale(services: SessionServices) -> None:
    """At start, before listening: close every session the journal has armed (the
    restart closed their connections) and wait until those closes are sequenced."""
    stale = await services.query(_armed)
    waiters = []
    for session_id, wallet in stale:
        log.info("closing session %s of %s armed before the restart", session_id, wallet)
        waiter = Pending()
        waiters.append(waiter)
        rid = request_id("closed", session_id)
        submission = Submission(
            wallet, rid, services.clock.now_ms(), SessionClosed(session_id), waiter
        )
        await services.send([submission])
    for waiter in waiters:
        await waiter.wait()


def _earliest_deadline(engine: Engine) -> tuple[str, int] | None:
    """The wallet whose ``CancelAfter`` deadline comes first, and that deadline."""
    state = engine.state
    deadline = state.cancel_after_next
    if deadline == NO_DEADLINE:
        return None
    return min(w for w, d in state.cancel_after.items() if d == deadline), deadline


async def watch(services: SessionServices) -> None:
    """Sequence a ``Tick`` whenever the earliest ``CancelAfter`` deadline has
    passed and nothing else was sequenced to apply it."""
    sent: tuple[str, int] | None = None
    while True:
        await trio.sleep(WATCH_INTERVAL_S)
        if services.stopping:
            continue
        # Only the deadline's value is read here, never the live state: a read through
        # the ordered path sees exactly what is durable.
        earliest = await services.query(_earliest_deadline)
        if earliest is None or earliest[1] > services.clock.now_ms():
            continue
        if sent == earliest:
            continue  # sequenced, not applied yet
        sent = earliest
        wallet, deadline = earliest
        await _sequence(services, wallet, request_id("deadline", wallet, deadline), Tick())
