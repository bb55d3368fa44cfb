"""The web page in headless Chromium against a real ``hcx serve``: it draws the book a
protocol client sees, trades through the protocol, and recovers from a dropped WebSocket."""

from __future__ import annotations

import json
import re
import time
from decimal import Decimal
from pathlib import Path
from typing import Any

from hcx.client import Client
from tests.e2e.market import SYMBOL
from tests.web.harness import (
    PageServer,
    as_wallet,
    client_book,
    page_ladder,
    wait_ladder_equals,
)

MAKER_QUOTES = (
    ("buy", "99.5", "3"),
    ("buy", "100", "2"),
    ("sell", "101", "1"),
    ("sell", "102.5", "4"),
)


def _quote(server: PageServer, wallet: str, quotes: tuple[tuple[str, str, str], ...]) -> list[int]:
    async def job(client: Client) -> list[int]:
        ids = []
        for side, price, size in quotes:
            result = await client.place_order(SYMBOL, side, price, size)  # type: ignore[arg-type]
            assert result.status == "open", result
            assert result.order_id is not None
            ids.append(result.order_id)
        return ids

    return as_wallet(server, wallet, job)


def _open(page: Any, server: PageServer, hash_symbol: str = SYMBOL) -> None:
    page.goto(f"{server.page_url}#{hash_symbol}")
    page.wait_for_selector("#conn[data-state='open']", timeout=10_000)
    page.wait_for_selector(f"#ladder[data-symbol='{hash_symbol}']", timeout=10_000)


def _sign_in(page: Any, server: PageServer, wallet: str) -> None:
    page.fill("#login-wallet", wallet)
    page.fill("#login-key", server.keys[wallet])
    page.click("#login-submit")
    page.wait_for_selector("#trader-section:not([hidden])", timeout=10_000)
    page.wait_for_selector("#balance [data-field='total']", timeout=10_000)


def _rows(page: Any, selector: str, fields: str) -> list[list[str]]:
    return page.eval_on_selector_all(
        selector, f"rows => rows.map(r => [{', '.join(f'r.dataset.{f}' for f in fields.split())}])"
    )


def _wait_for(page: Any, predicate: Any, what: str, timeout: float = 10.0) -> Any:
    """Poll ``predicate``; waiting through the page lets Playwright deliver its events."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        page.wait_for_timeout(20)


def test_page_loads_and_the_ladder_equals_the_clients_book(
    served: PageServer, page: Any, artifacts: Path
) -> None:
    _quote(served, "bob", MAKER_QUOTES)
    _open(page, served)
    levels = wait_ladder_equals(page, client_book(served))
    assert levels == [
        ("ask", Decimal("102.5"), Decimal("4")),
        ("ask", Decimal("101"), Decimal("1")),
        ("bid", Decimal("100"), Decimal("2")),
        ("bid", Decimal("99.5"), Decimal("3")),
    ]
    # The chain shows the same best bid and ask, and the instrument's status.
    cells = dict(
        (field, text)
        for field, text in page.eval_on_selector_all(
            f"#chain td[data-symbol='{SYMBOL}']",
            "cs => cs.map(c => [c.dataset.field, c.textContent])",
        )
    )
    assert cells["bid"] == "100" and cells["ask"] == "101" and cells["status"] == "active"
    # Depth bars scale with size: the largest level is full width.
    widths = page.eval_on_selector_all("#ladder .bar", "bars => bars.map(b => b.style.width)")
    assert widths == ["100%", "25%", "50%", "75%"]

    # A change made by another client reaches the page with the next seq.
    _quote(served, "bob", (("sell", "101", "2"),))
    wait_ladder_equals(page, client_book(served))
    assert page_ladder(page)[1][1] == ("ask", Decimal("101"), Decimal("3"))
    page.screenshot(path=str(artifacts / "ladder.png"), full_page=True)


def test_an_order_from_the_page_rests_is_replaced_and_canceled(
    served: PageServer, page: Any, artifacts: Path
) -> None:
    _quote(served, "bob", MAKER_QUOTES)
    _open(page, served)
    _sign_in(page, served, "alice")
    page.select_option("#ticket-side", "buy")
    page.fill("#ticket-price", "100.5")
    page.fill("#ticket-size", "2")
    page.click("#ticket-submit")
    page.wait_for_selector("#orders tr[data-order-id]", timeout=10_000)
    [[order_id, price]] = _rows(page, "#orders tr[data-order-id]", "orderId price")
    assert price == "100.5"
    open_orders = as_wallet(served, "alice", lambda c: c.get_open_orders())
    assert [(o.order_id, o.price, o.size) for o in open_orders.orders] == [
        (int(order_id), Decimal("100.5"), Decimal("2"))
    ]
    levels = wait_ladder_equals(page, client_book(served))
    assert ("bid", Decimal("100.5"), Decimal("2")) in levels
    assert "open" in page.text_content("#ticket-result")
    page.screenshot(path=str(artifacts / "order-open.png"), full_page=True)

    row = f"#orders tr[data-order-id='{order_id}']"
    page.fill(f"{row} .replace-price", "100.7")
    page.fill(f"{row} .replace-size", "1")
    page.click(f"{row} .replace")
    rows = _wait_for(
        page,
        lambda: [
            r for r in _rows(page, "#orders tr[data-order-id]", "orderId price") if r[0] != order_id
        ],
        "the replacing order",
    )
    assert [r[1] for r in rows] == ["100.7"]
    assert _rows(page, "#orders tr[data-order-id]", "orderId") == [[rows[0][0]]]
    open_orders = as_wallet(served, "alice", lambda c: c.get_open_orders())
    assert [(o.order_id, o.price, o.size) for o in open_orders.orders] == [
        (int(rows[0][0]), Decimal("100.7"), Decimal("1"))
    ]
    levels = wait_ladder_equals(page, client_book(served))
    assert ("bid", Decimal("100.7"), Decimal("1")) in levels
    assert all(price != Decimal("100.5") for _, price, _ in levels)

    page.click(f"#orders tr[data-order-id='{rows[0][0]}'] .cancel")
    _wait_for(
        page, lambda: not _rows(page, "#orders tr[data-order-id]", "orderId"), "no open orders"
    )
    assert as_wallet(served, "alice", lambda c: c.get_open_orders()).orders == ()
    levels = wait_ladder_equals(page, client_book(served))
    assert [price for _, price, _ in levels] == [
        Decimal(p) for p in ("102.5", "101", "100", "99.5")
    ]
    assert "canceled" in page.text_content("#ticket-result")


def test_a_bad_ticket_is_answered_on_the_page_naming_the_field(
    served: PageServer, page: Any
) -> None:
    _open(page, served)
    _sign_in(page, served, "alice")
    page.fill("#ticket-price", "1.0000001")
    page.fill("#ticket-size", "1")
    page.click("#ticket-submit")
    page.wait_for_selector("#ticket-result.bad", timeout=10_000)
    assert page.text_content("#ticket-result").startswith("price:")
    assert _rows(page, "#orders tr[data-order-id]", "orderId") == []


def test_a_trade_by_another_client_shows_in_trades_positions_and_fills(
    served: PageServer, page: Any, artifacts: Path
) -> None:
    _open(page, served)
    _sign_in(page, served, "alice")
    page.select_option("#ticket-side", "sell")
    page.fill("#ticket-price", "105")
    page.fill("#ticket-size", "3")
    page.click("#ticket-submit")
    page.wait_for_selector("#orders tr[data-order-id]", timeout=10_000)

    async def take(client: Client) -> Any:
        return await client.place_order(SYMBOL, "buy", "105", "2", tif="ioc")

    taken = as_wallet(served, "bob", take)
    assert taken.status == "filled", taken
    page.wait_for_selector("#trades tr[data-trade-id]", timeout=10_000)
    assert _rows(page, "#trades tr[data-trade-id]", "price size") == [["105", "2"]]
    _wait_for(page, lambda: _rows(page, "#positions tr[data-symbol]", "symbol size"), "a position")
    assert _rows(page, "#positions tr[data-symbol]", "symbol size") == [[SYMBOL, "-2"]]
    portfolio = as_wallet(served, "alice", lambda c: c.get_portfolio())
    assert [(p.symbol, p.size) for p in portfolio.positions] == [(SYMBOL, Decimal("-2"))]
    assert _rows(page, "#fills tr[data-fill-id]", "symbol") == [[SYMBOL]]
    filled = page.eval_on_selector_all(
        "#orders tr[data-order-id] td:nth-child(6)", "c => c.map(x => x.textContent)"
    )
    assert filled == ["2"]
    chain_last = page.text_content(f"#chain td[data-symbol='{SYMBOL}'][data-field='last']")
    assert chain_last == "105"
    page.screenshot(path=str(artifacts / "trader.png"), full_page=True)


def test_a_dropped_websocket_reconnects_and_the_ladder_is_right_again(
    served: PageServer, page: Any, artifacts: Path
) -> None:
    _quote(served, "bob", MAKER_QUOTES)
    _open(page, served)
    _sign_in(page, served, "alice")
    wait_ladder_equals(page, client_book(served))
    assert served.stop() == 0
    page.wait_for_selector("#conn[data-state='closed']", timeout=10_000)
    page.screenshot(path=str(artifacts / "reconnecting.png"), full_page=True)
    served.start()  # the same journal and ports
    # While the page was away the book changed: only a new snapshot can show this.
    _quote(served, "bob", (("buy", "100.2", "5"),))
    page.wait_for_selector("#conn[data-state='open']", timeout=15_000)
    levels = wait_ladder_equals(page, client_book(served), timeout=15.0)
    assert ("bid", Decimal("100.2"), Decimal("5")) in levels
    # Signed in again on the new connection: a page order works.
    page.fill("#ticket-price", "99")
    page.fill("#ticket-size", "1")
    page.select_option("#ticket-side", "buy")
    page.click("#ticket-submit")
    page.wait_for_selector("#orders tr[data-order-id]", timeout=10_000)
    wait_ladder_equals(page, client_book(served))


def test_the_book_keeps_seq_rules_and_asks_for_a_snapshot_on_a_gap(
    served: PageServer, page: Any
) -> None:
    page.goto(served.page_url)
    result = page.evaluate(
        """async () => {
      const { Book } = await import('./js/book.js');
      const b = new Book('X');
      const out = [b.update({seq: 1, bids: [], asks: []})];
      b.snapshot({seq: 5, bids: [['10', '1'], ['9', '2']], asks: [['11', '1']]});
      out.push(b.update({seq: 5, bids: [['10', '7']], asks: []}));
      out.push(b.update({seq: 6, bids: [['10', '0']], asks: [['12', '3']]}));
      out.push(JSON.stringify([b.sortedBids(), b.sortedAsks(), b.seq]));
      out.push(b.update({seq: 8, bids: [], asks: []}));
      out.push(b.synced);
      return out;
    }"""
    )
    assert result == [
        "unsynced",
        "stale",
        "applied",
        '[[["9","2"]],[["11","1"],["12","3"]],6]',
        "gap",
        False,
    ]


def test_a_missed_book_update_makes_the_page_resubscribe(served: PageServer, page: Any) -> None:
    """Between the server and the page, one update of the book is dropped: the page must
    see the gap in seq, ask for a new snapshot and draw the book right again."""
    dropped: list[str] = []
    sent: list[dict[str, Any]] = []

    def route(ws: Any) -> None:
        server = ws.connect_to_server()

        def from_server(message: str | bytes) -> None:
            if (
                not dropped
                and isinstance(message, str)
                and message.startswith('{"type":"BookUpdate"')
            ):
                dropped.append(message)
                return
            ws.send(message)

        def from_page(message: str | bytes) -> None:
            sent.append(json.loads(message))
            server.send(message)

        server.on_message(from_server)
        ws.on_message(from_page)

    page.route_web_socket(re.compile(r".*/ws$"), route)
    _quote(served, "bob", MAKER_QUOTES)
    _open(page, served)
    before = wait_ladder_equals(page, client_book(served))
    _quote(served, "bob", (("buy", "100.1", "1"),))  # dropped on its way to the page
    _wait_for(page, lambda: dropped, "the dropped update")
    assert page_ladder(page)[1] == before  # the page cannot know yet
    _quote(served, "bob", (("buy", "100.3", "1"),))  # the next seq shows the gap
    levels = wait_ladder_equals(page, client_book(served))
    assert ("bid", Decimal("100.1"), Decimal("1")) in levels
    assert ("bid", Decimal("100.3"), Decimal("1")) in levels
    book_requests = [(m["type"], m.get("symbol")) for m in sent if m.get("channel") == "book"]
    assert book_requests[-2:] == [("Unsubscribe", SYMBOL), ("Subscribe", SYMBOL)], book_requests
