"""What travels between the service's tasks, and how an answer reaches its asker.

Requests flow in as ``Submission`` (a command) or ``QueryItem`` (a read). The sequencer
turns them into ``JournalEntry`` (a sequenced command, its record and its output) or
``QueryEntry`` (a read's answer, held back like a result). Anything that is handed an
answer implements ``Waiter.resolve``; it is called only by the release stage (or
directly for refusals that reveal nothing, like a stale ``ts``).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import attrs
import trio

from hcx.engine import Engine
from hcx.engine.commands import Command
from hcx.sequencing import JournalEntry, Waiter


class Pending:
    """A waiter a trio task can await."""

    __slots__ = ("_event", "value")

    def __init__(self) -> None:
        self._event = trio.Event()
        self.value: Any = None

    def resolve(self, answer: Any) -> None:
        self.value = answer
        self._event.set()

    async def wait(self) -> Any:
        await self._event.wait()
        return self.value


@attrs.define(slots=True)
class Submission:
    wallet: str
    request_id: str
    client_ts: int
    command: Command
    waiter: Waiter


@attrs.define(slots=True)
class QueryItem:
    """``read`` runs against the engine in sequence; its answer is released after every
    command sequenced before it is durable."""

    read: Callable[[Engine], Any]
    waiter: Waiter


@attrs.define(slots=True, eq=False)
class QueryEntry:
    answer: Any
    waiter: Waiter

    @property
    def row(self) -> None:
        return None


Entry = JournalEntry | QueryEntry
