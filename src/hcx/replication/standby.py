"""``hcx standby`` and ``hcx promote``: follow the stream, and become the primary.

A standby follows (``Follower``) and logs its lag. With ``promote_after_ms`` it watches
the lease: once its revision has not changed for that long (measured on this machine's
monotonic clock, so clocks need not agree), it takes the lease by compare-and-set at the
revision it watched, applies everything left in the stream (up to the stream's last seq
as read after the lease is taken), fences the stream at the stream seq it read up to
(again after a further catch-up if the stream moved on meanwhile: an old primary still
alive cannot append after that), closes its journal and hands its live engine and
idempotency window over (``keep_state``) to the ``hcx serve`` that runs on that journal
(which checks that the journal ends where they do, holds the lease and fences the
stream). ``promote`` does the same at once, whoever holds the lease. It never sequences
commands while following.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from contextlib import ExitStack
from functools import partial
from typing import Any

import trio

from hcx import gc_policy
from hcx.replication import wire
from hcx.replication.bridge import AsyncioThread
from hcx.replication.errors import Deposed, unwrap
from hcx.replication.follower import Follower
from hcx.replication.lease import Lease, node_id
from hcx.replication.stream import JournalStream, is_transient
from hcx.service.config import ServiceConfig

log = logging.getLogger("hcx.replication")
WATCH_S = 0.05
# How long before a promotion the follower stops idling in long waits.
EAGER_BEFORE_MS = 400


async def connect(bridge: AsyncioThread, stream: JournalStream) -> None:
    while True:
        try:
            await bridge.call(stream.connect)
            await bridge.call(stream.ensure_stream)
            return
        except Exception as exc:
            if not is_transient(exc):
                raise
            log.warning("standby: NATS at %s does not answer (%r)", ",".join(stream.urls), exc)
            await trio.sleep(0.5)


async def follow(
    config: ServiceConfig,
    *,
    promote_after_ms: int | None = None,
    promote_now: bool = False,
    stop: trio.Event | None = None,
    on_follower: Callable[[Follower], Any] | None = None,
    keep_state: bool = False,
    tuning: ExitStack | None = None,
) -> bool:
    """Follow until ``stop`` (False) or a promotion (True: the lease is this journal's
    and its journal holds the whole stream, closed, ready for ``hcx serve``). With
    ``keep_state`` a promotion leaves the live state in ``follower.handed_over`` and
    writes no final snapshot (the server snapshots on its own). ``tuning``, if given,
    holds the collector settings past the return, for the server that goes on with
    the same objects (leaving them would unfreeze them, and the server would walk the
    whole state again to freeze it)."""
    bridge = AsyncioThread("hcx-standby-nats")
    stream = JournalStream(list(config.nats_urls), config.venue, replicas=config.nats_replicas)
    follower: Follower | None = None
    clean = False
    try:
        await connect(bridge, stream)
        follower = Follower(config, bridge, stream)
        await follower.open()
        assert follower.journal is not None
        lease = Lease(bridge, stream, node_id(follower.journal))
        if on_follower is not None:
            on_follower(follower)
        promoted = False
        helpers = trio.CancelScope()

        async def watch() -> None:
            nonlocal promoted
            take = _take_now if promote_now else _watch_lease
            promoted = await take(lease, promote_after_ms or 0, follower)
            follower.stop.set()

        async def run_helpers() -> None:
            with helpers:
                async with trio.open_nursery() as nursery:
                    nursery.start_soon(_log_lag, follower)
                    if stop is not None:
                        nursery.start_soon(_stop_on, stop, follower)
                    if promote_now or promote_after_ms is not None:
                        nursery.start_soon(watch)

        assert follower.snapshotter is not None
        try:
            # As ``hcx serve``: the recovered state frozen out of the collector's walks
            # (full collections over it stalled the standby for hundreds of ms).
            with ExitStack() as local:
                (tuning or local).enter_context(gc_policy.tuned())
                await _follow_then_catch_up(
                    follower, run_helpers, helpers, lambda: lease if promoted else None
                )
        except BaseExceptionGroup as group:
            fault = unwrap(group)
            if fault is group:
                raise
            raise fault from None
        clean = True
        if promoted and keep_state:
            follower.handed_over = follower.live_state()
        return promoted
    finally:
        if follower is not None:
            # After a fault the engine may hold half of a rejected record: no snapshot.
            follower.close(final_snapshot=clean and follower.handed_over is None)
        with trio.CancelScope(shield=True), trio.move_on_after(3):
            await bridge.call(stream.close)
        bridge.close()


async def _follow_then_catch_up(
    follower: Follower,
    run_helpers: Callable[[], Awaitable[None]],
    helpers: trio.CancelScope,
    promoted: Callable[[], Lease | None],
) -> None:
    assert follower.snapshotter is not None
    async with trio.open_nursery() as nursery:
        nursery.start_soon(follower.snapshotter.run)
        nursery.start_soon(run_helpers)
        try:
            await follower.follow()
            lease = promoted()
            if lease is not None:
                # Whatever the old primary published before it lost the lease; then the
                # fence, so that it can publish nothing more (if it did meanwhile: again).
                await follower.follow(catch_up=True)
                while not await fence_after_catch_up(follower, lease):
                    await follower.follow(catch_up=True)
                log.info("standby: promoted at seq %d", follower.stats.applied_seq)
            await follower.unsubscribe()
        finally:
            helpers.cancel()
            follower.snapshotter.close()


async def fence_after_catch_up(follower: Follower, lease: Lease) -> bool:
    """Publish the last row again, expecting the stream to end where the follower has
    read it: True once it lands (an older primary's next publication is refused); False
    if the stream moved on meanwhile or NATS did not answer (catch up, then try again)."""
    assert follower.verifier is not None and follower.reader is not None
    last = follower.reader.read(follower.verifier.last_seq)
    if last is None:
        return True  # an empty stream: the server's own fence goes first
    msg_id = wire.fence_id(lease.holder, lease.revision)
    send = partial(follower.stream.publish, [last], follower.stream_pos, msg_id)
    try:
        fenced = await follower.bridge.call(send)
    except Deposed:
        log.warning("standby: the stream moved on after the catch-up; catching up again")
        return False
    except Exception as exc:
        if not is_transient(exc):
            raise
        await trio.sleep(WATCH_S)
        return False
    log.info("standby: stream fenced at stream seq %d", fenced)
    return True


async def _stop_on(stop: trio.Event, follower: Follower) -> None:
    await stop.wait()
    follower.stop.set()


async def _log_lag(follower: Follower) -> None:
    while True:
        await trio.sleep(5.0)
        stats = follower.stats
        log.info(
            "standby: at seq %d, %d records and %d ms behind",
            stats.applied_seq,
            stats.lag_records,
            stats.lag_ms,
        )


async def _take_now(lease: Lease, _: int, follower: Follower) -> bool:
    follower.eager = True
    while True:
        revision, holder = await lease.read()
        if holder == lease.holder or await lease.take(revision):
            return True


async def _watch_lease(lease: Lease, after_ms: int, follower: Follower) -> bool:
    revision, holder = -1, None
    changed = trio.current_time()
    while True:
        try:
            now_revision, holder = await lease.read()
        except Exception as exc:
            if not is_transient(exc):
                raise
            # NATS away: no one can renew or take the lease; wait for it.
            changed = trio.current_time()
            await trio.sleep(WATCH_S)
            continue
        stale_ms = (trio.current_time() - changed) * 1000
        if now_revision != revision:
            revision, changed = now_revision, trio.current_time()
            follower.eager = False
        elif holder is not None and stale_ms >= after_ms:
            log.warning("standby: lease of %s not renewed for %d ms: taking it", holder, after_ms)
            if await lease.take(revision):
                return True
        elif holder is not None and stale_ms >= after_ms - EAGER_BEFORE_MS:
            follower.eager = True
        await trio.sleep(WATCH_S)
