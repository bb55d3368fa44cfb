"""The journal stream on JetStream, as asyncio coroutines: connect, publish, read, search.

Every method runs on the ``AsyncioThread``'s loop (nats-py is asyncio). ``publish``
fences: it states the stream seq it expects last, so a second writer fails with
``Deposed`` instead of appending. It never decodes records or touches a journal.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import nats
import nats.errors
import nats.js.errors
from nats.js import api

from hcx.durability.journal import Row
from hcx.replication import wire
from hcx.replication.errors import Deposed

log = logging.getLogger("hcx.replication")
WRONG_LAST_SEQUENCE = 10071
# Errors that mean "not now" (retry), as opposed to a refusal.
TRANSIENT: tuple[type[BaseException], ...] = (
    nats.errors.TimeoutError,
    nats.errors.ConnectionClosedError,
    nats.errors.NoServersError,
    nats.errors.OutboundBufferLimitError,
    nats.js.errors.NoStreamResponseError,
    nats.js.errors.ServiceUnavailableError,
    asyncio.TimeoutError,
    OSError,
)


def is_transient(exc: BaseException) -> bool:
    if isinstance(exc, TRANSIENT):
        return True
    return isinstance(exc, nats.js.errors.APIError) and exc.code in (503, 408)


class JournalStream:
    def __init__(
        self, urls: list[str], venue: str, *, timeout_s: float = 2.0, replicas: int = 1
    ) -> None:
        self.urls = urls
        self.replicas = replicas
        self.venue = venue
        self.name = wire.stream_name(venue)
        self.subject = wire.subject(venue)
        self.timeout_s = timeout_s
        self.nc: Any = None
        self.js: Any = None

    async def connect(self) -> None:
        async def quiet(exc: Exception) -> None:
            log.debug("nats: %r", exc)

        # Bounded: with unlimited reconnects nats-py retries a first connect forever.
        try:
            self.nc = await asyncio.wait_for(
                nats.connect(
                    servers=self.urls,
                    connect_timeout=self.timeout_s,
                    allow_reconnect=True,
                    max_reconnect_attempts=-1,
                    reconnect_time_wait=0.2,
                    error_cb=quiet,
                ),
                2 * self.timeout_s,
            )
        except TimeoutError:
            raise nats.errors.NoServersError() from None
        self.js = self.nc.jetstream(timeout=self.timeout_s)

    async def ensure_stream(self) -> None:
        try:
            await self.js.stream_info(self.name)
            return
        except nats.js.errors.NotFoundError:
            pass
        await self.js.add_stream(
            name=self.name,
            subjects=[self.subject],
            storage=api.StorageType.FILE,
            num_replicas=self.replicas,
            duplicate_window=120.0,
        )

    async def last_stream_seq(self) -> int:
        info = await self.js.stream_info(self.name)
        return int(info.state.last_seq)

    async def message(self, stream_seq: int) -> tuple[int, int, bytes]:
        """(first journal seq, last journal seq, payload) of one message."""
        raw = await self.js.get_msg(self.name, seq=stream_seq)
        first, last = wire.seq_range(stream_seq, raw.headers)
        return first, last, bytes(raw.data or b"")

    async def fenced_by(self, stream_seq: int) -> str | None:
        """The holder whose fence message ``stream_seq`` is; None if it holds rows."""
        raw = await self.js.get_msg(self.name, seq=stream_seq)
        return wire.fence_holder(raw.headers)

    async def tail(self) -> tuple[int, list[Row]]:
        """(last stream seq, rows of the last message); (0, []) for an empty stream."""
        last = await self.last_stream_seq()
        if last == 0:
            return 0, []
        _, _, data = await self.message(last)
        return last, wire.decode_rows(last, data)

    async def find(self, journal_seq: int) -> int:
        """The first stream seq whose message holds a journal seq above ``journal_seq``
        (one past the end if none): a binary search on the headers."""
        info = await self.js.stream_info(self.name)
        low, high = int(info.state.first_seq), int(info.state.last_seq)
        if info.state.messages == 0:
            return high + 1
        answer = high + 1
        while low <= high:
            middle = (low + high) // 2
            raw = await self.js.get_msg(self.name, seq=middle)
            _, last = wire.seq_range(middle, raw.headers)
            if last > journal_seq:
                answer, high = middle, middle - 1
            else:
                low = middle + 1
        return answer

    async def publish(
        self, rows: list[Row], expected_last: int | None, msg_id: str | None = None
    ) -> int:
        """Append one message; its stream seq. ``Deposed`` if another writer appended.
        A fence (a new primary's first message) repeats the last row under its own id."""
        try:
            ack = await self.js.publish(
                self.subject,
                wire.encode_rows(rows),
                headers=wire.headers(rows, expected_last, msg_id),
            )
        except nats.js.errors.APIError as exc:
            if exc.err_code == WRONG_LAST_SEQUENCE:
                raise Deposed(
                    f"the stream moved on under this primary (expected last {expected_last}): "
                    "another primary writes there"
                ) from None
            raise
        return int(ack.seq)

    async def subscribe_from(self, stream_seq: int) -> Any:
        """An ordered push subscription delivering messages from ``stream_seq`` on (a
        pull's fetch of a batch lingers until the batch fills or times out: lag)."""
        config = api.ConsumerConfig(
            deliver_policy=api.DeliverPolicy.BY_START_SEQUENCE, opt_start_seq=stream_seq
        )
        return await self.js.subscribe(
            self.subject, stream=self.name, config=config, ordered_consumer=True
        )

    @staticmethod
    async def take(subscription: Any, limit: int, timeout: float) -> list[Any]:
        """The next message (waiting up to ``timeout``) and whatever has arrived behind
        it, up to ``limit``; [] if none came."""
        try:
            messages = [await subscription.next_msg(timeout)]
        except nats.errors.TimeoutError:
            return []
        while len(messages) < limit and subscription.pending_msgs > 0:
            messages.append(await subscription.next_msg(1.0))
        return messages

    async def close(self) -> None:
        # A close, not a drain: every publication was awaited already, and a drain of
        # a pull subscription waits out its fetch.
        if self.nc is not None and not self.nc.is_closed:
            await self.nc.close()
