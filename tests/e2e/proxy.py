"""A TCP relay between a client and the server that a test can break on purpose.

``cut()`` drops every relayed connection at once (the client sees an abnormal close,
like a network failure); ``block()`` also stops accepting, so reconnects are refused
until ``unblock()``; ``swallow_next_reply()`` lets the next bytes from the server vanish
and cuts that connection: the server has executed the command but its answer is lost;
``freeze()`` silently drops everything on the current connections without closing
them, like a dead link that TCP has not noticed yet.
"""

from __future__ import annotations

from typing import Any

import trio


class Proxy:
    def __init__(self, target_port: int) -> None:
        self.target_port = target_port
        self.port = 0
        self.accepted = 0
        self.swallowed = 0
        self._nursery: trio.Nursery | None = None
        self._listen_scope: trio.CancelScope | None = None
        self._relays: set[trio.CancelScope] = set()
        self._frozen: set[trio.CancelScope] = set()
        self._swallow = False

    @property
    def url(self) -> str:
        return f"ws://127.0.0.1:{self.port}/ws"

    async def run(self, *, task_status: Any = trio.TASK_STATUS_IGNORED) -> None:
        async with trio.open_nursery() as nursery:
            self._nursery = nursery
            await nursery.start(self._serve)
            task_status.started(self)
            await trio.sleep_forever()  # keep the nursery open for unblock()

    def cut(self) -> None:
        for scope in list(self._relays):
            scope.cancel()

    def block(self) -> None:
        if self._listen_scope is not None:
            self._listen_scope.cancel()
            self._listen_scope = None
        self.cut()

    async def unblock(self) -> None:
        assert self._nursery is not None
        if self._listen_scope is None:
            await self._nursery.start(self._serve)

    def freeze(self) -> None:
        self._frozen |= self._relays

    def swallow_next_reply(self) -> None:
        self._swallow = True

    async def _serve(self, *, task_status: Any = trio.TASK_STATUS_IGNORED) -> None:
        listeners = await trio.open_tcp_listeners(self.port, host="127.0.0.1")
        listener = listeners[0]
        self.port = listener.socket.getsockname()[1]
        with trio.CancelScope() as scope:
            self._listen_scope = scope
            task_status.started()
            try:
                while True:
                    stream = await listener.accept()
                    self.accepted += 1
                    assert self._nursery is not None
                    self._nursery.start_soon(self._relay, stream)
            finally:
                await listener.aclose()

    async def _relay(self, client: trio.SocketStream) -> None:
        async with client:
            try:
                server = await trio.open_tcp_stream("127.0.0.1", self.target_port)
            except OSError:
                return
            async with server:
                with trio.CancelScope() as scope:
                    self._relays.add(scope)
                    try:
                        async with trio.open_nursery() as nursery:
                            nursery.start_soon(self._pump, client, server, scope, False)
                            nursery.start_soon(self._pump, server, client, scope, True)
                    finally:
                        self._relays.discard(scope)

    async def _pump(
        self,
        source: trio.SocketStream,
        sink: trio.SocketStream,
        scope: trio.CancelScope,
        from_server: bool,
    ) -> None:
        try:
            while True:
                data = await source.receive_some(65536)
                if not data:
                    break
                if from_server and self._swallow:
                    self._swallow = False
                    self.swallowed += 1
                    break
                if scope in self._frozen:
                    continue
                await sink.send_all(data)
        except (trio.BrokenResourceError, trio.ClosedResourceError):
            pass
        finally:
            scope.cancel()
