"""Service settings: durability mode, channel capacities, windows and intervals."""

from __future__ import annotations

from typing import Literal

import attrs

from hcx.engine import EngineConfig

DurabilityMode = Literal["group", "sync", "memory"]
DURABILITY_MODES: tuple[DurabilityMode, ...] = ("group", "sync", "memory")
ReplicationMode = Literal["async", "sync"]
REPLICATION_MODES: tuple[ReplicationMode, ...] = ("async", "sync")


def _urls(value: object) -> tuple[str, ...]:
    if isinstance(value, str):
        value = value.split(",")
    return tuple(str(url).strip() for url in value if str(url).strip())  # type: ignore[attr-defined]


@attrs.frozen
class ServiceConfig:
    """``db`` is the journal path (ignored in ``memory`` mode).

    Capacities bound memory and give backpressure: a full journal channel stops the
    sequencer, a full request channel stops whoever submits.
    """

    db: str = "hcx.db"
    durability: DurabilityMode = "group"
    engine: EngineConfig = attrs.Factory(EngineConfig)
    request_capacity: int = 1_024
    journal_capacity: int = 8
    release_capacity: int = 8
    max_batch: int = 512
    recv_window_ms: int = 60_000
    future_ms: int = 1_000
    snapshot_every: int = 100_000
    snapshots_kept: int = 2
    checkpoint_interval_s: float = 0.25
    # Replication (docs/replication.md): off while ``nats_urls`` is empty.
    nats_urls: tuple[str, ...] = attrs.field(default=(), converter=_urls)
    replication: ReplicationMode = "async"
    venue: str = "hcx"
    # Replicas of the stream and the lease bucket when this node creates them (3 on a
    # 3-node NATS cluster: a node may be lost).
    nats_replicas: int = 1
