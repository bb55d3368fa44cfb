"""Helpers for reading subscriptions in e2e tests."""

from __future__ import annotations

from typing import Any, TypeVar

import trio

from hcx.client import Client, Subscription

T = TypeVar("T")


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
