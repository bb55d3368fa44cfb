// The trader panel: balance, open orders (each row can be replaced or canceled), positions
// and fills of the signed-in wallet. Draws only; the actions are callbacks.
import { el, time } from "./dom.js";

export function drawBalance(root, balance) {
  if (!balance) {
    root.replaceChildren();
    return;
  }
  root.replaceChildren(
    ...["total", "available", "reserved"].map((key) =>
      el("span", { dataset: { field: key } }, `${key} `, el("b", {}, balance[key])),
    ),
  );
}

export function drawOrders(table, orders, { onReplace, onCancel }) {
  const rows = [...orders.values()]
    .sort((a, b) => a.order_id - b.order_id)
    .map((order) => {
      const price = el("input", { value: order.price, class: "replace-price", size: 7 });
      const size = el("input", { value: order.size, class: "replace-size", size: 5 });
      return el(
        "tr",
        { dataset: { orderId: order.order_id, symbol: order.symbol, price: order.price } },
        el("td", {}, order.order_id),
        el("td", {}, order.symbol),
        el("td", { class: order.side }, order.side),
        el("td", {}, price),
        el("td", {}, size),
        el("td", {}, order.filled_size),
        el("td", {}, order.status),
        el(
          "td",
          {},
          el("button", { class: "replace", onclick: () => onReplace(order, price.value, size.value) }, "Replace"),
          " ",
          el("button", { class: "cancel", onclick: () => onCancel(order) }, "Cancel"),
        ),
      );
    });
  table.tBodies[0].replaceChildren(...rows);
}

export function drawPositions(table, positions) {
  const rows = [...positions.values()]
    .filter((p) => Number(p.size) !== 0 || Number(p.realized_pnl) !== 0)
    .sort((a, b) => a.symbol.localeCompare(b.symbol))
    .map((p) =>
      el(
        "tr",
        { dataset: { symbol: p.symbol, size: p.size } },
        el("td", {}, p.symbol),
        el("td", { class: Number(p.size) > 0 ? "long" : Number(p.size) < 0 ? "short" : "" }, p.size),
        el("td", {}, p.entry_price),
        el("td", {}, p.realized_pnl),
      ),
    );
  table.tBodies[0].replaceChildren(...rows);
}

export function drawFills(table, fills) {
  table.tBodies[0].replaceChildren(
    ...fills.map((f) =>
      el(
        "tr",
        { dataset: { fillId: f.fill_id, symbol: f.symbol } },
        el("td", {}, time(f.ts)),
        el("td", {}, f.symbol),
        el("td", { class: f.side }, f.side),
        el("td", {}, f.price),
        el("td", {}, f.size),
        el("td", {}, f.fee),
        el("td", {}, f.liquidity),
      ),
    ),
  );
}
