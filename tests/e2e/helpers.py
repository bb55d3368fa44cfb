"""Helpers for reading subscriptions in e2e tests, and a connection that stops reading."""

from __future__ import annotations

import socket
from typing import Any, TypeVar

import trio
from trio_websocket import WebSocketConnection, wrap_client_stream

from hcx.client import Client, Subscription

T = TypeVar("T")


async def open_small_window_connection(nursery: trio.Nursery, port: int) -> WebSocketConnection:
    """A JSON WebSocket with a 4 KiB receive buffer and a one-message client queue: once
    its owner stops reading, the server's writes to it back up at once (a slow consumer)."""
    sock = trio.socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    await sock.connect(("127.0.0.1", port))
    ws = await wrap_client_stream(
        nursery,
        trio.SocketStream(sock),
        f"127.0.0.1:{port}",
        "/ws",
        subprotocols=["hcx.v1.json"],
        message_queue_size=1,
    )
    return ws


def queued(subscription: Subscription[T]) -> list[T]:
    """Every message already received and not yet iterated (never waits)."""
    out: list[T] = []
    for _ in range(subscription.pending()):
        out.append(subscription._receive.receive_nowait())
    return out


async def settle(client: Client, *subscriptions: Subscription[Any]) -> list[list[Any]]:
    """Everything the server published to ``client``'s subscriptions up to now.

    A query is answered in sequence after everything released before it, on the same
    connection, so once its answer is back every earlier channel message has been
    dispatched to its subscription; then the queues are emptied."""
    await client.get_instruments()
    return [queued(subscription) for subscription in subscriptions]


async def take(subscription: Subscription[T], count: int, timeout: float = 10.0) -> list[T]:
    with trio.fail_after(timeout):
        return [await subscription.next() for _ in range(count)]
