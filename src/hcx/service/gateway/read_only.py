"""What a read-only gateway (a standby's) refuses: every message that would change state.

Public channels, queries and resume are served from the replicated state; commands,
bulk orders and RFQ traffic get ``Error {code: "read_only"}``. It never decides anything
else about a message.
"""

from __future__ import annotations

from hcx.protocol.commands import ADMIN_COMMANDS, TRADER_COMMANDS
from hcx.protocol.errors import ProtocolError

WRITES = frozenset(
    {*TRADER_COMMANDS, *ADMIN_COMMANDS, "BulkOrders", "RequestQuote", "Quote", "AcceptQuote"}
)


def refuse(kind: str) -> None:
    if kind in WRITES:
        raise ProtocolError(
            "read_only", f"{kind}: this server is a read-only standby; send it to the primary"
        )
