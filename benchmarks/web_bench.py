"""The web page's two figures, in headless Chromium against a real ``hcx demo``:

1. page ready: from navigation to the selected book drawn (HTML, scripts, config, the
   WebSocket, every subscription and the book's snapshot), over fresh browser contexts;
2. book update on screen: for each book update of the selected symbol, the time the page
   drew it minus the time a protocol client (``hcx.client``, another process's view of the
   same feed) received it. A driver places and cancels an order every 50 ms; the demo's
   maker moves the same book too. Both clocks are this machine's wall clock.

    .venv/bin/python benchmarks/web_bench.py --updates 200 --loads 10

(``--screenshot PATH`` also saves the page as drawn: the README's picture.) Prints figures
only; nothing here is asserted.
"""

from __future__ import annotations

import argparse
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import trio
from playwright.sync_api import sync_playwright

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.web.harness import launch_browser

from hcx.client import BookUpdate, Client, connect

# Records, in the page, when each BookUpdate arrived (before the page's handler runs).
ARRIVALS_JS = """
window.__arrived = [];
window.WebSocket = class extends WebSocket {
  constructor(...args) {
    super(...args);
    this.addEventListener('message', (event) => {
      const at = performance.timeOrigin + performance.now();
      if (event.data.startsWith('{"type":"BookUpdate"')) {
        const m = JSON.parse(event.data);
        window.__arrived.push([m.symbol, m.seq, at]);
      }
    });
  }
};
"""

# Records, in the page, when the ladder was drawn for each book seq.
OBSERVE_JS = """() => {
  window.__drawn = [];
  const ladder = document.getElementById('ladder');
  new MutationObserver(() => {
    if (ladder.dataset.seq) window.__drawn.push(
      [Number(ladder.dataset.seq), performance.timeOrigin + performance.now()]);
  }).observe(ladder, {attributes: true, attributeFilter: ['data-seq']});
}"""


def start_demo(directory: Path) -> tuple[subprocess.Popen[str], str, str, dict[str, str]]:
    proc = subprocess.Popen(
        [
            *(sys.executable, "-m", "hcx.cli", "demo", "--db", str(directory / "hcx.db")),
            *("--port", "0", "--http-port", "0"),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    assert proc.stdout is not None
    page_url = ws_url = ""
    keys: dict[str, str] = {}
    for line in proc.stdout:
        if line.startswith("hcx web page at "):
            page_url = line.split(" at ", 1)[1].strip()
        elif line.startswith("hcx listening on "):
            ws_url = line.split(" on ", 1)[1].strip()
        elif line.startswith("  ") and "hcx_" in line:
            wallet, key = line.split()
            keys[wallet] = key
        elif line.startswith("Ctrl-C stops it"):
            break
    return proc, page_url, ws_url, keys


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


def describe(name: str, values: list[float]) -> None:
    print(
        f"{name}: n={len(values)} median {statistics.median(values):.1f} ms, "
        f"p90 {percentile(values, 0.9):.1f} ms, max {max(values):.1f} ms"
    )


def measure_loads(browser: Any, url: str, loads: int) -> tuple[list[float], list[float]]:
    """Seen from outside (goto to the ladder found drawn, Playwright's polling included)
    and from inside (the page's own ``hcx:book`` mark, from navigation start)."""
    outside, inside = [], []
    for _ in range(loads):
        context = browser.new_context(viewport={"width": 1500, "height": 860})
        page = context.new_page()
        started = time.perf_counter()
        page.goto(url)
        page.wait_for_selector("#ladder:not([data-seq=''])[data-seq]", timeout=10_000)
        outside.append((time.perf_counter() - started) * 1000)
        inside.append(page.evaluate("() => performance.getEntriesByName('hcx:book')[0].startTime"))
        context.close()
    return outside, inside


def watch_and_drive(
    ws_url: str, keys: dict[str, str], symbol: str, updates: int, seen: dict[int, float]
) -> None:
    """In its own thread: a watcher records when each update arrives while bob moves the
    book ``updates`` times (place, then cancel, one order far from the market)."""

    async def main() -> None:
        async with (
            connect(ws_url, heartbeat_interval=None) as watcher,
            connect(ws_url, wallet="bob", key=keys["bob"], heartbeat_interval=None) as bob,
            watcher.subscribe_book(symbol) as subscription,
            trio.open_nursery() as nursery,
        ):

            async def record() -> None:
                async for message in subscription:
                    if isinstance(message, BookUpdate):
                        seen[message.seq] = time.time() * 1000

            nursery.start_soon(record)
            await trio.sleep(0.5)
            await drive(bob, symbol, updates)
            await trio.sleep(0.5)
            nursery.cancel_scope.cancel()

    trio.run(main)


async def drive(bob: Client, symbol: str, updates: int) -> None:
    for i in range(updates // 2):
        placed = await bob.place_order(symbol, "buy", "0.1", "1", client_id=f"bench-{i}")
        await trio.sleep(0.05)
        if placed.order_id is not None:
            await bob.cancel_order(placed.order_id)
        await trio.sleep(0.05)


def screenshot(browser: Any, url: str, ws_url: str, keys: dict[str, str], path: str) -> None:
    async def trade(wallet: str, symbol: str) -> None:
        async with connect(ws_url, wallet=wallet, key=keys[wallet], heartbeat_interval=None) as c:
            async with c.subscribe_book(symbol) as subscription:
                await subscription.next()
                best = subscription.book.best_ask()
            if best is not None:
                await c.place_order(symbol, "buy", str(best[0]), "1", tif="ioc")
                await c.place_order(symbol, "buy", str(best[0] - 20), "1")

    context = browser.new_context(viewport={"width": 1360, "height": 720})
    page = context.new_page()
    page.goto(url)
    page.wait_for_selector("#ladder:not([data-seq=''])[data-seq]", timeout=10_000)
    symbol = page.get_attribute("#ladder", "data-symbol")
    page.fill("#login-wallet", "alice")
    page.fill("#login-key", keys["alice"])
    page.click("#login-submit")
    page.wait_for_selector("#trader-section:not([hidden])", timeout=10_000)
    trio.run(trade, "bob", symbol)
    trio.run(trade, "alice", symbol)
    page.wait_for_selector("#fills tr[data-fill-id]", timeout=10_000)
    page.wait_for_selector("#index span:not(:empty)", timeout=10_000)
    time.sleep(2.5)  # the index walks every 2 s
    page.screenshot(path=path)
    context.close()
    print(f"screenshot: {path}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--updates", type=int, default=200)
    parser.add_argument("--loads", type=int, default=10)
    parser.add_argument("--screenshot", help="save a screenshot of a trading session here")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        proc, page_url, ws_url, keys = start_demo(Path(tmp))
        try:
            with sync_playwright() as playwright:
                browser = launch_browser(playwright)
                loads = measure_loads(browser, page_url, args.loads)
                page = browser.new_page(viewport={"width": 1500, "height": 860})
                page.add_init_script(ARRIVALS_JS)
                page.goto(page_url)
                page.wait_for_selector("#ladder:not([data-seq=''])[data-seq]", timeout=10_000)
                symbol = page.get_attribute("#ladder", "data-symbol")
                page.evaluate(OBSERVE_JS)
                seen: dict[int, float] = {}
                driver = threading.Thread(
                    target=watch_and_drive, args=(ws_url, keys, symbol, args.updates, seen)
                )
                driver.start()
                driver.join()
                time.sleep(0.3)
                drawn: dict[int, float] = {}
                for seq, at in page.evaluate("() => window.__drawn"):
                    drawn.setdefault(seq, at)  # a redraw of the same seq is no news
                arrived = {
                    seq: at
                    for book, seq, at in page.evaluate("() => window.__arrived")
                    if book == symbol
                }
                if args.screenshot:
                    screenshot(browser, page_url, ws_url, keys, args.screenshot)
                browser.close()
        finally:
            proc.send_signal(signal.SIGTERM)
            proc.wait(15)
    print(f"hcx web page, headless Chromium, loopback; book {symbol}")
    describe("page ready, in the page (navigation start -> book drawn)", loads[1])
    describe("page ready, from outside (goto -> ladder seen drawn)", loads[0])
    lags = [drawn[seq] - at for seq, at in seen.items() if seq in drawn]
    # Under a burst the page draws once per frame: a seq it never drew on its own is on
    # screen with the next drawn seq.
    coalesced = [
        min(t for s, t in drawn.items() if s >= seq) - at
        for seq, at in seen.items()
        if seq not in drawn and any(s >= seq for s in drawn)
    ]
    describe("book update on screen after the client saw it", lags + coalesced)
    print(f"updates seen by the client {len(seen)}, drawn as their own frame {len(lags)}")
    everything = lags + coalesced
    print(f"over 100 ms: {sum(lag > 100 for lag in everything)} of {len(everything)}")
    describe(
        "  of which: the page's WebSocket got it after the client did",
        [arrived[seq] - at for seq, at in seen.items() if seq in arrived],
    )
    describe(
        "  of which: drawn after the page's WebSocket got it",
        [drawn[seq] - at for seq, at in arrived.items() if seq in drawn],
    )


if __name__ == "__main__":
    main()
