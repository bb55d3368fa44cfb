"""What a client call can raise: the server's ``Error`` answer, or a lost connection."""

from __future__ import annotations

from typing import Any


class HcxError(Exception):
    """An ``Error`` message from the server (see the protocol's error codes).

    ``code`` is the protocol's code (``invalid_field``, ``auth_failed``, ``forbidden``,
    ``stale_request``, ``not_found`` ...), ``field`` names the offending field of an
    ``invalid_field``. Instances compare equal when their wire contents are equal, so a
    failed item of a ``BulkResult`` can be compared like any other result.
    """

    def __init__(
        self,
        code: str,
        message: str = "",
        field: str | None = None,
        *,
        request_id: str | None = None,
        retry_after_ms: int | None = None,
    ) -> None:
        super().__init__(f"{code}: {message}" if message else code)
        self.code = code
        self.message = message
        self.field = field
        self.request_id = request_id
        self.retry_after_ms = retry_after_ms

    @classmethod
    def from_wire(cls, message: dict[str, Any]) -> HcxError:
        code = message.get("code")
        text = message.get("message")
        field = message.get("field")
        request_id = message.get("request_id")
        retry = message.get("retry_after_ms")
        return cls(
            code if isinstance(code, str) else "internal",
            text if isinstance(text, str) else "",
            field if isinstance(field, str) else None,
            request_id=request_id if isinstance(request_id, str) else None,
            retry_after_ms=retry if isinstance(retry, int) else None,
        )

    def _key(self) -> tuple[Any, ...]:
        return (self.code, self.message, self.field, self.request_id, self.retry_after_ms)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, HcxError):
            return NotImplemented
        return self._key() == other._key()

    def __hash__(self) -> int:
        return hash(self._key())

    def __repr__(self) -> str:
        extra = f", field={self.field!r}" if self.field else ""
        return f"HcxError({self.code!r}, {self.message!r}{extra})"


class ConnectionLost(Exception):
    """The connection is gone and the client will not (or could no longer) reconnect:
    the client was closed, reconnecting is disabled, or it kept failing for longer than
    ``reconnect_timeout``. A command that was in flight may or may not have executed;
    repeating it with the same ``request_id`` and ``ts`` is safe."""
