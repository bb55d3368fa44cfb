"""Gateway settings: listening address, limits, queues and heartbeats."""

from __future__ import annotations

from typing import Literal

import attrs

AuthMode = Literal["keys", "none"]


@attrs.frozen
class GatewayConfig:
    host: str = "127.0.0.1"
    port: int = 8765
    auth: AuthMode = "keys"
    max_frame_bytes: int = 64 * 1024
    max_connections: int = 10_000
    # Per-connection outbound queue: a consumer this far behind is cut off.
    outbound_messages: int = 10_000
    outbound_bytes: int = 16 * 1024 * 1024
    # Public market data (book, trades, instruments) is written to a connection at most
    # once per interval; answers, private channels and RFQ traffic go at once, taking any
    # queued market data along, and so does a queue that is half full. Under load one
    # write (and one wakeup of the reader) carries many updates; a quiet connection waits
    # for nothing. 0: write each batch as it is released.
    channel_interval_ms: float = 20.0
    ping_interval_s: float = 20.0
    pong_timeout_s: float = 60.0
    # How long a connection the server cuts (slow consumer, heartbeat) has to take its
    # 1008 close frame: a write already in progress to a consumer that stopped reading
    # finishes only as it reads, and the close frame queues behind it.
    close_timeout_s: float = 5.0
    order_rate_per_wallet: float = 10_000.0
    order_burst_per_wallet: float = 20_000.0
    message_rate_per_connection: float = 20_000.0
    message_burst_per_connection: float = 20_000.0
    failed_auth_per_minute: int = 20
    recent_orders_kept: int = 100_000
    rfq_ttl_ms: int = 30_000
    tls_cert: str | None = None
    tls_key: str | None = None
