// The order-book ladder of one symbol (asks above, bids below, depth bars scaled to the
// largest visible level) and its recent trades. Draws only.
import { el, time } from "./dom.js";

const DEPTH = 12;

export function drawLadder(table, book, onPrice) {
  const tbody = table.tBodies[0];
  if (!book) {
    table.dataset.symbol = "";
    table.dataset.seq = "";
    tbody.replaceChildren();
    return;
  }
  const asks = book.sortedAsks().slice(0, DEPTH).reverse();
  const bids = book.sortedBids().slice(0, DEPTH);
  const largest = Math.max(1e-12, ...[...asks, ...bids].map(([, size]) => Number(size)));
  const rows = [
    ...asks.map(([price, size]) => row("ask", price, size, largest, onPrice)),
    el("tr", { class: "spread" }, el("td", { colSpan: 3 }, spread(bids[0], asks.at(-1)))),
    ...bids.map(([price, size]) => row("bid", price, size, largest, onPrice)),
  ];
  tbody.replaceChildren(...rows);
  table.dataset.symbol = book.symbol;
  table.dataset.seq = book.seq === null ? "" : String(book.seq);
}

function row(sideName, price, size, largest, onPrice) {
  const bar = el("div", { class: "bar" });
  bar.style.width = `${Math.round((Number(size) / largest) * 100)}%`;
  const sizeCell = el("td", { class: sideName }, bar, el("span", {}, size));
  const empty = el("td", {});
  return el(
    "tr",
    { dataset: { side: sideName, price, size } },
    sideName === "bid" ? sizeCell : empty,
    el("td", { class: `price ${sideName}`, onclick: () => onPrice(price, sideName) }, price),
    sideName === "ask" ? sizeCell : el("td", {}),
  );
}

function spread(bestBid, bestAsk) {
  if (!bestBid || !bestAsk) return "—";
  const width = Number(bestAsk[0]) - Number(bestBid[0]);
  return `spread ${+width.toFixed(6)}`;
}

export function drawTrades(table, trades) {
  table.tBodies[0].replaceChildren(
    ...trades.map((t) =>
      el(
        "tr",
        { dataset: { tradeId: t.trade_id, price: t.price, size: t.size } },
        el("td", {}, time(t.ts)),
        el("td", { class: t.taker_side }, t.price),
        el("td", {}, t.size),
        el("td", { class: t.taker_side }, t.taker_side),
      ),
    ),
  );
}
