"""The ``Exchange`` handle: how the gateway and embedded programs talk to a running pipeline.

Commands and reads go in through the requests channel and are answered once durable;
``drain`` waits until everything handed in before it has been released. It never touches
the engine's state except through reads ordered with the commands (``engine`` is for
whoever knows they run between awaits).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TypeVar

import attrs
import trio

from hcx.durability.group_commit import GroupCommitWriter
from hcx.durability.replay import Recovered
from hcx.engine import Engine
from hcx.engine.commands import Command
from hcx.engine.outputs import Result
from hcx.sequencing import Refusal, Reply
from hcx.service.clock import Clock
from hcx.service.config import ServiceConfig
from hcx.service.entries import Pending, QueryItem, Submission
from hcx.service.release import Publisher, Releaser
from hcx.service.sequencer import Sequencer

T = TypeVar("T")


@attrs.define
class Exchange:
    """A running exchange: submit commands and reads; they are answered once durable."""

    config: ServiceConfig
    clock: Clock
    recovered: Recovered
    sequencer: Sequencer
    writer: GroupCommitWriter
    releaser: Releaser
    _requests: trio.MemorySendChannel[list[Submission | QueryItem]]
    # A primary's: commands are sequenced (a standby's replica refuses them).
    read_only = False

    async def submit(
        self, wallet: str, request_id: str, client_ts: int, command: Command
    ) -> Reply | Refusal:
        waiter = Pending()
        await self._requests.send([Submission(wallet, request_id, client_ts, command, waiter)])
        answer: Reply | Refusal = await waiter.wait()
        return answer

    async def submit_many(
        self, items: Sequence[tuple[str, str, int, Command]]
    ) -> list[Reply | Refusal]:
        waiters = [Pending() for _ in items]
        await self._requests.send(
            [Submission(*item, waiter) for item, waiter in zip(items, waiters, strict=True)]
        )
        return [await waiter.wait() for waiter in waiters]

    async def send(self, items: list[Submission | QueryItem]) -> None:
        """Hand over prepared items whose waiters the caller provides (the gateway)."""
        await self._requests.send(items)

    async def query(self, read: Callable[[Engine], T]) -> T:
        waiter = Pending()
        await self._requests.send([QueryItem(read, waiter)])
        answer: T = await waiter.wait()
        return answer

    async def drain(self) -> None:
        """Returns once every command and read handed in before this call is answered:
        a read is released only after everything sequenced before it."""
        await self.query(_nothing)

    def stored_result(self, wallet: str, request_id: str) -> Result | None:
        """The result of an earlier request of ``wallet``, if still in the window."""
        return self.sequencer.step.stored_result(wallet, request_id)

    def add_publisher(self, publish: Publisher) -> None:
        self.releaser.publishers.append(publish)

    @property
    def engine(self) -> Engine:
        """The live engine: read it only between awaits (it changes as commands apply)."""
        return self.sequencer.engine


def _nothing(_: Engine) -> None:
    return None
