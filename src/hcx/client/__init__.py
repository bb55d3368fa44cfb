"""The Python client for the hcx WebSocket protocol (trio + trio-websocket).

```python
async with hcx.client.connect("ws://127.0.0.1:8765/ws", wallet="alice", key=key) as client:
    result = await client.place_order("BTC-20301231-3000-C", "buy", "12.5", "1")
    async with client.subscribe_fills() as fills:
        async for fill in fills:
            ...
```
Commands fill in ``request_id`` and ``ts`` and return typed results (``Decimal`` for
decimal strings) or raise ``HcxError``; a command in flight when the connection drops is
re-sent after the reconnect with the same ``request_id`` and ``ts``, so it executes at
most once. Built on ``hcx.protocol``, like the server's gateway.
"""

from hcx.client.book import BookGap, OrderBook
from hcx.client.connection import Client, connect
from hcx.client.errors import ConnectionLost, HcxError
from hcx.client.messages import (
    AdminResult,
    Amounts,
    Authenticated,
    Balance,
    BalanceResult,
    BookSnapshot,
    BookUpdate,
    BulkResult,
    CancelAllResult,
    Fill,
    FillSource,
    IndexPrice,
    Instrument,
    MmpResult,
    OpenOrders,
    OptionKind,
    Order,
    OrderResult,
    OrderState,
    OrderUpdate,
    Pong,
    Portfolio,
    PortfolioPosition,
    Position,
    PositionExpired,
    RfqResult,
    SelfTradePrevention,
    Side,
    TimeInForce,
    Trade,
    UnknownMessage,
    parse_message,
)
from hcx.client.requests import (
    CancelAllRequest,
    CancelOrderRequest,
    CreateInstrumentRequest,
    DepositRequest,
    HaltInstrumentRequest,
    OrderRequest,
    PlaceOrderRequest,
    ReplaceOrderRequest,
    Request,
    SetIndexPriceRequest,
    WithdrawRequest,
)
from hcx.client.subscriptions import (
    BookSubscription,
    PrivateSubscription,
    ResumePoint,
    Subscription,
)

__all__ = [
    "AdminResult",
    "Amounts",
    "Authenticated",
    "Balance",
    "BalanceResult",
    "BookGap",
    "BookSnapshot",
    "BookSubscription",
    "BookUpdate",
    "BulkResult",
    "CancelAllRequest",
    "CancelAllResult",
    "CancelOrderRequest",
    "Client",
    "ConnectionLost",
    "CreateInstrumentRequest",
    "DepositRequest",
    "Fill",
    "FillSource",
    "HaltInstrumentRequest",
    "HcxError",
    "IndexPrice",
    "Instrument",
    "MmpResult",
    "OpenOrders",
    "OptionKind",
    "Order",
    "OrderBook",
    "OrderRequest",
    "OrderResult",
    "OrderState",
    "OrderUpdate",
    "PlaceOrderRequest",
    "Pong",
    "Portfolio",
    "PortfolioPosition",
    "Position",
    "PositionExpired",
    "PrivateSubscription",
    "ReplaceOrderRequest",
    "Request",
    "ResumePoint",
    "RfqResult",
    "SelfTradePrevention",
    "SetIndexPriceRequest",
    "Side",
    "Subscription",
    "TimeInForce",
    "Trade",
    "UnknownMessage",
    "WithdrawRequest",
    "connect",
    "parse_message",
]
