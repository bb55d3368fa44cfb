"""Protocol errors: a code from the contract, a human message and the field at fault."""

from __future__ import annotations

from typing import Any


class ProtocolError(Exception):
    def __init__(
        self,
        code: str,
        message: str,
        field: str | None = None,
        *,
        retry_after_ms: int | None = None,
    ) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.field = field
        self.retry_after_ms = retry_after_ms

    def to_wire(self, msg_id: Any = None, request_id: str | None = None) -> dict[str, Any]:
        out: dict[str, Any] = {"type": "Error", "code": self.code, "message": self.message}
        if self.field is not None:
            out["field"] = self.field
        if self.retry_after_ms is not None:
            out["retry_after_ms"] = self.retry_after_ms
        if msg_id is not None:
            out["id"] = msg_id
        if request_id is not None:
            out["request_id"] = request_id
        return out


def invalid_field(field: str, message: str) -> ProtocolError:
    return ProtocolError("invalid_field", f"{field}: {message}", field)
