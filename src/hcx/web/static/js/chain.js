// The option chain grid: one table per expiry, strikes down the middle, calls left and
// puts right, each with best bid, best ask, last trade and status. Draws only.
import { day, el } from "./dom.js";

export function drawChain(root, state, onPick) {
  const instruments = [...state.instruments.values()];
  if (instruments.length === 0) {
    root.replaceChildren(el("p", { class: "empty" }, "no instruments yet"));
    return;
  }
  const expiries = new Map(); // "underlying expiry" -> {underlying, expiry, strikes: Map}
  for (const inst of instruments) {
    const key = `${inst.underlying} ${inst.expiry_ms}`;
    if (!expiries.has(key)) {
      expiries.set(key, { underlying: inst.underlying, expiry: inst.expiry_ms, strikes: new Map() });
    }
    const strikes = expiries.get(key).strikes;
    if (!strikes.has(inst.strike)) strikes.set(inst.strike, {});
    strikes.get(inst.strike)[inst.option] = inst;
  }
  const tables = [...expiries.values()]
    .sort((a, b) => a.underlying.localeCompare(b.underlying) || a.expiry - b.expiry)
    .map((group) => table(group, state, onPick));
  root.replaceChildren(...tables);
}

function table(group, state, onPick) {
  const head = el(
    "tr",
    {},
    ["status", "last", "bid", "ask"].map((h) => el("th", {}, `C ${h}`)),
    el("th", { class: "strike" }, "strike"),
    ["bid", "ask", "last", "status"].map((h) => el("th", {}, `P ${h}`)),
  );
  const rows = [...group.strikes.entries()]
    .sort((a, b) => Number(a[0]) - Number(b[0]))
    .map(([strike, pair]) =>
      el(
        "tr",
        {},
        side(pair.call, state, onPick, ["status", "last", "bid", "ask"]),
        el("td", { class: "strike" }, strike),
        side(pair.put, state, onPick, ["bid", "ask", "last", "status"]),
      ),
    );
  return el(
    "table",
    { class: "chain" },
    el("caption", {}, `${group.underlying} · expires ${day(group.expiry)}`),
    el("thead", {}, head),
    el("tbody", {}, rows),
  );
}

function side(inst, state, onPick, order) {
  if (!inst) return order.map(() => el("td", {}, ""));
  const book = state.books.get(inst.symbol);
  const bid = book && book.bestBid();
  const ask = book && book.bestAsk();
  const last = state.lastTrade.get(inst.symbol);
  const values = {
    status: inst.status,
    last: last ? last.price : "",
    bid: bid ? `${bid[0]}` : "",
    ask: ask ? `${ask[0]}` : "",
  };
  const selected = state.selected === inst.symbol;
  return order.map((key) =>
    el(
      "td",
      {
        class: `cell ${key}${selected ? " selected" : ""}`,
        title: inst.symbol,
        dataset: { symbol: inst.symbol, field: key },
        onclick: () => onPick(inst.symbol),
      },
      values[key],
    ),
  );
}
