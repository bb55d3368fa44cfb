"""A synchronous facade for programs that are not async (a GUI, a game loop).

``SyncExchange`` runs the embedded exchange on trio in a background thread; its sessions
offer every method of ``hcx.client.Client`` as a plain blocking call (run on the trio
thread with ``trio.from_thread``), and each subscription becomes a thread-safe iterator
fed by a trio task. Safe to call from any thread, including a GUI's; calls from one
thread are executed in the order made.
"""

from __future__ import annotations

import functools
import inspect
import queue
import threading
from collections.abc import Callable, Iterator
from typing import Any

import trio

from hcx.embedded.exchange import EmbeddedExchange, open_exchange
from hcx.engine import EngineConfig
from hcx.service.clock import Clock

_END = object()


class SyncSubscription:
    """Messages of one channel; iterate, or ``get(timeout)`` (None on timeout)."""

    def __init__(self, exchange: SyncExchange, opener: Callable[[], Any]) -> None:
        self._exchange = exchange
        self._messages: queue.Queue[Any] = queue.Queue()
        self._closed = threading.Event()
        self._cancel: trio.CancelScope | None = None
        exchange._call(self._start, opener)

    async def _start(self, opener: Callable[[], Any]) -> None:
        started = trio.Event()

        async def pump() -> None:
            with trio.CancelScope() as scope:
                self._cancel = scope
                try:
                    async with opener() as subscription:
                        started.set()
                        async for message in subscription:
                            self._messages.put(message)
                finally:
                    started.set()
                    self._messages.put(_END)

        self._exchange._nursery.start_soon(pump)
        await started.wait()

    def get(self, timeout: float | None = None) -> Any:
        try:
            message = self._messages.get(timeout=timeout)
        except queue.Empty:
            return None
        if message is _END:
            self._messages.put(_END)
            raise StopIteration
        return message

    def drain(self) -> list[Any]:
        """Every message already received, without waiting."""
        out: list[Any] = []
        while True:
            try:
                message = self._messages.get_nowait()
            except queue.Empty:
                return out
            if message is _END:
                self._messages.put(_END)
                return out
            out.append(message)

    def __iter__(self) -> Iterator[Any]:
        while True:
            try:
                yield self.get()
            except StopIteration:
                return

    def close(self) -> None:
        if self._cancel is not None:
            self._exchange._token.run_sync_soon(self._cancel.cancel)


class SyncSession:
    """A client acting as one wallet, with blocking methods."""

    def __init__(self, exchange: SyncExchange, client: Any, done: trio.Event) -> None:
        self._exchange = exchange
        self._client = client
        self._done = done

    def __getattr__(self, name: str) -> Any:
        attribute = getattr(self._client, name)
        if name.startswith("subscribe_"):

            @functools.wraps(attribute)
            def subscribe(*args: Any, **kwargs: Any) -> SyncSubscription:
                return SyncSubscription(self._exchange, lambda: attribute(*args, **kwargs))

            return subscribe
        if inspect.iscoroutinefunction(attribute):

            @functools.wraps(attribute)
            def call(*args: Any, **kwargs: Any) -> Any:
                return self._exchange._call(functools.partial(attribute, *args, **kwargs))

            return call
        return attribute

    def close(self) -> None:
        self._exchange._token.run_sync_soon(self._done.set)


class SyncExchange:
    """``with SyncExchange(clock=SimClock(), seed=7) as exchange:``; the arguments are
    those of ``hcx.embedded.exchange.open_exchange``."""

    def __init__(
        self,
        path: str | None = None,
        *,
        clock: Clock | None = None,
        seed: int = 0,
        engine: EngineConfig | None = None,
        durability: str | None = None,
    ) -> None:
        self.clock = clock
        self._options = {
            "clock": clock,
            "seed": seed,
            "engine": engine,
            "durability": durability,
        }
        self._path = path
        self._ready = threading.Event()
        self._error: BaseException | None = None
        self._stop: trio.Event | None = None
        self._token: trio.lowlevel.TrioToken
        self._nursery: trio.Nursery
        self._embedded: EmbeddedExchange
        self._thread = threading.Thread(target=self._run, name="hcx-exchange", daemon=True)
        self._thread.start()
        self._ready.wait()
        if self._error is not None:
            raise self._error

    def _run(self) -> None:
        try:
            trio.run(self._main)
        except BaseException as exc:  # reported to the creating thread, or on close
            self._error = exc
            self._ready.set()

    async def _main(self) -> None:
        self._token = trio.lowlevel.current_trio_token()
        self._stop = trio.Event()
        async with open_exchange(self._path, **self._options) as embedded:  # type: ignore[arg-type]
            self._embedded = embedded
            async with trio.open_nursery() as nursery:
                self._nursery = nursery
                self._ready.set()
                await self._stop.wait()
                nursery.cancel_scope.cancel()

    def _call(self, fn: Callable[..., Any], *args: Any) -> Any:
        if self._error is not None:
            raise self._error
        return trio.from_thread.run(fn, *args, trio_token=self._token)

    def session(self, wallet: str) -> SyncSession:
        return self._call(self._open_session, wallet)  # type: ignore[no-any-return]

    async def _open_session(self, wallet: str) -> SyncSession:
        opened = trio.Event()
        done = trio.Event()
        holder: list[Any] = []

        async def keep_open() -> None:
            try:
                async with self._embedded.session(wallet) as client:
                    holder.append(client)
                    opened.set()
                    await done.wait()
            finally:
                opened.set()

        self._nursery.start_soon(keep_open)
        await opened.wait()
        if not holder:
            raise RuntimeError(f"could not open a session for {wallet!r}")
        return SyncSession(self, holder[0], done)

    def digest(self) -> str:
        return self._call(self._embedded.digest)  # type: ignore[no-any-return]

    def close(self) -> None:
        """Drain (every accepted command is committed), stop, and join the thread."""
        if self._stop is not None and self._thread.is_alive():
            self._token.run_sync_soon(self._stop.set)
        self._thread.join()
        if self._error is not None:
            raise self._error

    def __enter__(self) -> SyncExchange:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
