"""A real ``hcx serve`` with its web page, Debian's Chromium driven by Playwright, and a
protocol client (``hcx.client``) run with ``trio.run`` beside the synchronous browser.

Shared by the browser tests and ``benchmarks/web_bench.py``.
"""

from __future__ import annotations

import os
import select
import signal
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from decimal import Decimal
from pathlib import Path
from typing import Any, TypeVar

import attrs
import trio

from hcx.client import Client, OrderBook, connect
from tests.e2e.conftest import create_keys
from tests.e2e.market import SYMBOL, list_market

CHROMIUM = "/usr/bin/chromium"
# Without the background-networking flags Chromium's own connections to the outside are
# refused on a closed network and slow its start; the rest make it a quiet headless tool.
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
ROLES = {"admin": "admin", "alice": "trader", "bob": "trader"}
STARTUP_TIMEOUT_S = 20.0
T = TypeVar("T")

Level = tuple[str, Decimal, Decimal]


@attrs.define
class PageServer:
    """``hcx serve --http-port``: restartable on the same journal and ports."""

    directory: Path
    keys: dict[str, str]
    proc: subprocess.Popen[bytes] | None = None
    ws_url: str = ""
    page_url: str = ""
    log_files: list[Path] = attrs.Factory(list)

    @property
    def db(self) -> Path:
        return self.directory / "hcx.db"

    @property
    def ws_port(self) -> int:
        return int(self.ws_url.rsplit(":", 1)[1].split("/")[0])

    @property
    def http_port(self) -> int:
        return int(self.page_url.rstrip("/").rsplit(":", 1)[1])

    def start(self) -> None:
        ws_port = self.ws_port if self.ws_url else 0
        http_port = self.http_port if self.page_url else 0
        log = self.directory / f"server{len(self.log_files)}.log"
        self.log_files.append(log)
        args = [
            *("serve", "--db", str(self.db), "--host", "127.0.0.1"),
            *("--port", str(ws_port), "--http-port", str(http_port), "--auth", "keys"),
        ]
        env = {**os.environ, "PYTHONUNBUFFERED": "1"}
        with log.open("wb") as log_file:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "hcx.cli", *args],
                stdout=subprocess.PIPE,
                stderr=log_file,
                env=env,
            )
        lines = _read_lines(self.proc, 2, log)
        page_prefix, ws_prefix = "hcx web page at ", "hcx listening on "
        assert lines[0].startswith(page_prefix), lines
        assert lines[1].startswith(ws_prefix), lines
        self.page_url = lines[0][len(page_prefix) :]
        self.ws_url = lines[1][len(ws_prefix) :]

    def stop(self) -> int:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGTERM)
        try:
            code = self.proc.wait(15)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            raise AssertionError("hcx serve ignored SIGTERM") from None
        finally:
            if self.proc.stdout is not None:
                self.proc.stdout.close()
            self.proc = None
        return code

    def log_text(self) -> str:
        return "\n".join(p.read_text(errors="replace") for p in self.log_files)


def _read_lines(proc: subprocess.Popen[bytes], count: int, log: Path) -> list[str]:
    assert proc.stdout is not None
    deadline = time.monotonic() + STARTUP_TIMEOUT_S
    data = b""
    while data.count(b"\n") < count:
        ready, _, _ = select.select([proc.stdout], [], [], max(deadline - time.monotonic(), 0))
        if not ready:
            proc.kill()
            raise AssertionError(f"hcx serve printed no URLs:\n{log.read_text()}")
        chunk = os.read(proc.stdout.fileno(), 4096)
        if not chunk:
            proc.wait()
            raise AssertionError(f"hcx serve exited {proc.returncode}:\n{log.read_text()}")
        data += chunk
    return [line.strip() for line in data.decode().splitlines()[:count]]


@contextmanager
def page_server(directory: Path) -> Iterator[PageServer]:
    """A started server whose market (SYMBOL, funded alice and bob) is listed; stopped
    (exit 0 asserted) afterwards."""
    directory.mkdir(parents=True, exist_ok=True)
    server = PageServer(directory, create_keys(directory / "hcx.db", ROLES))
    server.start()
    try:
        as_admin(server, list_market)
        yield server
    finally:
        if server.proc is not None:
            code = server.stop()
            assert code == 0, f"hcx serve exited {code}:\n{server.log_text()}"


def as_wallet(server: PageServer, wallet: str, job: Callable[[Client], Awaitable[T]]) -> T:
    """Run ``job`` with a fresh client signed in as ``wallet`` (``trio.run``)."""

    async def main() -> T:
        async with connect(
            server.ws_url, wallet=wallet, key=server.keys[wallet], heartbeat_interval=None
        ) as client:
            return await job(client)

    return trio.run(main)


def as_admin(server: PageServer, job: Callable[[Client], Awaitable[T]]) -> T:
    return as_wallet(server, "admin", job)


async def snapshot_book(client: Client, symbol: str = SYMBOL) -> OrderBook:
    """The book as a fresh subscription's snapshot gives it."""
    async with client.subscribe_book(symbol) as subscription:
        with trio.fail_after(10):
            await subscription.next()
        return subscription.book


def client_book(server: PageServer, symbol: str = SYMBOL) -> OrderBook:
    async def job(client: Client) -> OrderBook:
        return await snapshot_book(client, symbol)

    return as_wallet(server, "bob", job)


def book_levels(book: OrderBook) -> list[Level]:
    """Asks from the highest down, then bids from the highest down: the ladder's order."""
    asks = [("ask", price, size) for price, size in reversed(book.asks)]
    return asks + [("bid", price, size) for price, size in book.bids]


LADDER_JS = """table => ({
  seq: table.dataset.seq,
  symbol: table.dataset.symbol,
  levels: [...table.querySelectorAll('tr[data-side]')].map(
    r => [r.dataset.side, r.dataset.price, r.dataset.size]),
})"""


def page_ladder(page: Any) -> tuple[int | None, list[Level]]:
    drawn = page.eval_on_selector("#ladder", LADDER_JS)
    levels = [(side, Decimal(price), Decimal(size)) for side, price, size in drawn["levels"]]
    return (int(drawn["seq"]) if drawn["seq"] else None), levels


def wait_ladder_equals(page: Any, book: OrderBook, timeout: float = 10.0) -> list[Level]:
    """Wait until the page has drawn ``book``'s seq; then its levels must equal it."""
    deadline = time.monotonic() + timeout
    seq, levels = page_ladder(page)
    while seq != book.seq and time.monotonic() < deadline:
        page.wait_for_timeout(20)
        seq, levels = page_ladder(page)
    expected = book_levels(book)
    assert (seq, levels) == (book.seq, expected), (seq, levels, book.seq, expected)
    return levels


def launch_browser(playwright: Any) -> Any:
    return playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
