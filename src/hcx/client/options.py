"""The client's settings: one class that both ``connect()`` and ``Client`` take; no I/O.

``ClientOptions`` holds every setting with its default; ``OptionFields`` names the same
settings as keyword arguments (``connect(url, wallet="alice", reconnect=False)``), so the
two entry points cannot drift apart. A unit test keeps ``OptionFields`` and
``ClientOptions`` naming the same fields.
"""

from __future__ import annotations

import ssl
from collections.abc import Awaitable, Callable
from typing import Any, TypedDict

import attrs
import trio

from hcx.protocol import SUBPROTOCOL_JSON, SUBPROTOCOLS

# Opens one in-process connection inside the given nursery (see ``hcx.service.local``).
Transport = Callable[[trio.Nursery], Awaitable[Any]]


def _subprotocol(_options: Any, _attribute: Any, value: str) -> None:
    if value not in SUBPROTOCOLS:
        raise ValueError(f"subprotocol must be one of {SUBPROTOCOLS}")


@attrs.frozen(kw_only=True)
class ClientOptions:
    """How a client connects, authenticates, reconnects and queues.

    ``wallet``/``key``: authenticate every connection as ``wallet`` (None: do not).
    ``reconnect_timeout``: how long a dropped connection is retried (``reconnect=False``:
    calls fail with ``ConnectionLost`` instead). ``queue_size`` bounds each subscription's
    queue (the reader waits when it is full). ``heartbeat_interval``: how often to ping to
    notice a silently dead connection (None: never), giving up on a pong after
    ``heartbeat_timeout`` seconds. ``transport`` opens an in-process connection instead of
    a socket (the embedded API); ``request_ids`` and ``clock_ms`` make a simulation's
    requests repeatable. ``ca_file``/``ssl_context``: whom a ``wss://`` server must prove it
    is (default: the system's CA store). ``cancel_on_disconnect``: every connection asks
    the server to cancel the wallet's orders when it closes (docs/protocol.md).
    """

    wallet: str | None = None
    key: str | None = None
    subprotocol: str = attrs.field(default=SUBPROTOCOL_JSON, validator=_subprotocol)
    reconnect: bool = True
    reconnect_timeout: float = 30.0
    open_timeout: float = 10.0
    queue_size: int = 10_000
    max_message_bytes: int = 16 * 1024 * 1024
    heartbeat_interval: float | None = 20.0
    heartbeat_timeout: float = 20.0
    transport: Transport | None = None
    request_ids: Callable[[], str] | None = None
    clock_ms: Callable[[], int] | None = None
    ca_file: str | None = None
    ssl_context: ssl.SSLContext | None = None
    cancel_on_disconnect: bool = False


class OptionFields(TypedDict, total=False):
    """``ClientOptions``' fields as keyword arguments of ``connect`` and ``Client``."""

    wallet: str | None
    key: str | None
    subprotocol: str
    reconnect: bool
    reconnect_timeout: float
    open_timeout: float
    queue_size: int
    max_message_bytes: int
    heartbeat_interval: float | None
    heartbeat_timeout: float
    transport: Transport | None
    request_ids: Callable[[], str] | None
    clock_ms: Callable[[], int] | None
    ca_file: str | None
    ssl_context: ssl.SSLContext | None
    cancel_on_disconnect: bool


def resolve(options: ClientOptions | None, fields: OptionFields) -> ClientOptions:
    """``options`` (default: all defaults) with the keyword ``fields`` laid over it."""
    base = options if options is not None else ClientOptions()
    return attrs.evolve(base, **fields) if fields else base
