"""How ``hcx serve`` takes replication on: the replicator, its gate or publisher, its task.

``open_replication`` connects and reconciles before the exchange opens, yields what
``open_exchange`` needs (a sync gate, or a release-stage publisher for ``async``), runs
the async publishing task beside the server, and at the end publishes what is left for a
bounded time. Without ``nats_urls`` it yields nothing to attach. It never sequences,
commits or releases.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import attrs
import trio

from hcx.durability.journal import Journal
from hcx.replication.errors import unwrap
from hcx.replication.gate import SyncGate
from hcx.replication.lease import LEASE_FRESH_MS, Lease, node_id
from hcx.replication.primary import Replicator
from hcx.replication.stream import is_transient
from hcx.service.config import ServiceConfig
from hcx.service.release import Publisher
from hcx.service.supervisor import Stage


@attrs.define
class Attached:
    replicator: Replicator | None = None
    stage: Stage | None = None
    publishers: list[Publisher] = attrs.Factory(list)


@asynccontextmanager
async def open_replication(config: ServiceConfig) -> AsyncIterator[Attached]:
    if not config.nats_urls:
        yield Attached()
        return
    holder = journal_node_id(config.db)
    replicator = Replicator(
        list(config.nats_urls),
        config.venue,
        mode=config.replication,
        replicas=config.nats_replicas,
        holder=holder,
    )
    try:
        await replicator.start(config.db)
        lease = Lease(replicator.bridge, replicator.stream, holder)
        if replicator.connected:
            await take_lease(lease, replicator)
        try:
            async with trio.open_nursery() as nursery:
                nursery.start_soon(hold_lease, lease, replicator)
                if config.replication == "sync":
                    yield Attached(replicator, stage=SyncGate(replicator).run)
                else:
                    nursery.start_soon(replicator.run_async)
                    yield Attached(replicator, publishers=[replicator.on_released])
                    await replicator.flush()
                nursery.cancel_scope.cancel()
        except BaseExceptionGroup as group:
            fault = unwrap(group)
            if fault is group:
                raise
            raise fault from None
    finally:
        with trio.CancelScope(shield=True):
            await replicator.aclose()


def journal_node_id(db: str) -> str:
    journal = Journal(db)
    try:
        return node_id(journal)
    finally:
        journal.close()


async def take_lease(lease: Lease, replicator: Replicator) -> None:
    await lease.hold_at_start(LEASE_FRESH_MS)
    await replicator.fence(lease.holder, lease.revision)


async def hold_lease(lease: Lease, replicator: Replicator) -> None:
    """Renew the lease; in ``async`` mode with NATS away at start, take it first."""
    while lease.revision == 0:
        if not replicator.connected:
            # Reconciled first, so the fence goes after the stream's real end.
            await trio.sleep(0.2)
            continue
        try:
            await take_lease(lease, replicator)
        except Exception as exc:
            if not is_transient(exc):
                raise
            await trio.sleep(0.5)
    await lease.renew_forever()
