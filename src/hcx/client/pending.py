"""A call of the client waiting for its answer: resolved or failed once, awaited by its caller.

It holds the frame to send again after a reconnect; it never sends or reads anything.
"""

from __future__ import annotations

from typing import Any

import trio


class PendingCall:
    """A call waiting for its answer. ``resend``: re-send it after a reconnect (False for
    messages that only make sense on the connection they were sent on)."""

    __slots__ = ("_error", "_event", "_value", "message", "resend")

    def __init__(self, message: dict[str, Any], *, resend: bool = True) -> None:
        self.message = message
        self.resend = resend
        self._event = trio.Event()
        self._value: Any = None
        self._error: BaseException | None = None

    def resolve(self, value: Any) -> None:
        if not self._event.is_set():
            self._value = value
            self._event.set()

    def fail(self, error: BaseException) -> None:
        if not self._event.is_set():
            self._error = error
            self._event.set()

    async def wait(self) -> Any:
        await self._event.wait()
        if self._error is not None:
            raise self._error
        return self._value
