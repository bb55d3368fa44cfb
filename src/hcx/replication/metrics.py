"""Replication gauges of a primary or a standby, sampled into the service's registry.

Lag in records and in milliseconds, whether NATS answers, outages seen, and (primary,
``async``) the unpublished rows held in memory. It only reads
counters the replicator or the follower keep; it never changes them.
"""

from __future__ import annotations

from typing import Protocol

import trio
from prometheus_client import Gauge

from hcx.service.metrics import Metrics


class HasStats(Protocol):
    @property
    def stats(self) -> object: ...


def gauges(metrics: Metrics) -> dict[str, Gauge]:
    r = metrics.registry
    return {
        "lag_records": Gauge(
            "hcx_replication_lag_records",
            "Records committed (primary) or in the stream (standby) not yet published/applied",
            registry=r,
        ),
        "lag_ms": Gauge(
            "hcx_replication_lag_ms", "Standby: ms from the primary's commit to applied", registry=r
        ),
        "unreachable": Gauge(
            "hcx_replication_nats_unreachable", "1 while NATS does not answer", registry=r
        ),
        "outages": Gauge("hcx_replication_outages", "NATS outages seen", registry=r),
        "held_rows": Gauge(
            "hcx_replication_held_rows",
            "Primary, async: unpublished rows held in memory (the rest is read from the journal)",
            registry=r,
        ),
    }


async def sample_replication(source: HasStats, metrics: Metrics, every_s: float = 0.5) -> None:
    found = gauges(metrics)
    while True:
        stats = source.stats
        found["lag_records"].set(getattr(stats, "lag_records", 0))
        found["lag_ms"].set(getattr(stats, "lag_ms", 0))
        found["unreachable"].set(1 if getattr(stats, "unreachable_since", None) else 0)
        found["outages"].set(getattr(stats, "outages", 0))
        found["held_rows"].set(getattr(stats, "held_rows", 0))
        await trio.sleep(every_s)
