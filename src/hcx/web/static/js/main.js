// The page's state and its protocol handling: it subscribes like any client, keeps every
// book by the snapshot/seq rules, resubscribes on a gap, and starts over after a reconnect.
// Drawing is batched to one pass per animation frame.
import { Book } from "./book.js";
import { drawChain } from "./chain.js";
import { Connection } from "./connection.js";
import { drawLadder, drawTrades } from "./ladder.js";
import { drawBalance, drawFills, drawOrders, drawPositions } from "./trader.js";

const RECENT_TRADES = 200;
const SHOWN_TRADES = 30;
const RECENT_FILLS = 100;
const LIVE = new Set(["open", "partially_filled"]);

const state = {
  instruments: new Map(),
  books: new Map(),
  resubscribing: new Set(),
  lastTrade: new Map(),
  trades: [],
  index: new Map(),
  selected: decodeURIComponent(location.hash.slice(1)) || null,
  creds: null,
  authed: false,
  orders: new Map(), // order_id -> OrderResult-shaped
  closed: new Set(), // order ids seen closed: a late message never brings them back
  positions: new Map(),
  fills: [],
  fillIds: new Set(),
  fillSeq: null,
  balance: null,
};

const $ = (id) => document.getElementById(id);
let conn = null;
let drawPending = false;

function scheduleDraw() {
  if (drawPending) return;
  drawPending = true;
  requestAnimationFrame(() => {
    drawPending = false;
    draw();
  });
}

function draw() {
  drawChain($("chain"), state, select);
  const book = state.selected ? state.books.get(state.selected) : null;
  drawLadder($("ladder"), book && book.synced ? book : null, pickPrice);
  if (book && book.synced && performance.getEntriesByName("hcx:book").length === 0) {
    performance.mark("hcx:book"); // the figure "page ready" is this mark
  }
  $("market-symbol").textContent = state.selected || "—";
  $("ticket-symbol").textContent = state.selected || "—";
  const trades = state.trades.filter((t) => t.symbol === state.selected).slice(0, SHOWN_TRADES);
  drawTrades($("trades"), trades);
  const inst = state.instruments.get(state.selected) || state.instruments.values().next().value;
  const index = inst && state.index.get(inst.underlying);
  $("index").firstElementChild.textContent = index ? `${index.underlying} ${index.price}` : "—";
  $("trader-section").hidden = !state.authed;
  if (state.authed) {
    drawBalance($("balance"), state.balance);
    drawOrders($("orders"), state.orders, { onReplace: replaceOrder, onCancel: cancelOrder });
    drawPositions($("positions"), state.positions);
    drawFills($("fills"), state.fills);
  }
}

function select(symbol) {
  state.selected = symbol;
  history.replaceState(null, "", `#${encodeURIComponent(symbol)}`);
  scheduleDraw();
}

function pickPrice(price, side) {
  $("ticket-price").value = price;
  $("ticket-side").value = side === "ask" ? "buy" : "sell";
}

// --- subscriptions ---------------------------------------------------------------------

async function onOpen() {
  performance.mark("hcx:open");
  // Whatever came over the old connection may have missed messages: start over.
  for (const book of state.books.values()) book.reset();
  state.resubscribing.clear();
  // The server takes one connection's messages in order, so these go out together: the
  // instruments channel is live before the list is read, and nothing is missed between.
  const signingIn = state.creds ? authenticate() : null;
  const first = state.selected;
  if (first && !state.books.has(first)) state.books.set(first, new Book(first));
  const [, list] = await Promise.all([
    conn.request({ type: "Subscribe", channel: "instruments" }),
    conn.request({ type: "GetInstruments" }),
    conn.request({ type: "Subscribe", channel: "trades" }),
    first ? subscribeBook(first) : null,
  ]);
  for (const inst of list.instruments) addInstrument(inst);
  if (!state.instruments.has(state.selected) && state.instruments.size > 0) {
    const symbols = [...state.instruments.keys()].sort();
    state.selected = symbols[Math.floor(symbols.length / 2)];
  }
  await signingIn;
  const books = [...state.instruments.keys()].filter((symbol) => symbol !== first);
  await Promise.all([...books.map(subscribeBook), state.authed ? subscribePrivate() : null]);
  scheduleDraw();
}

function addInstrument(inst) {
  const known = state.instruments.has(inst.symbol);
  state.instruments.set(inst.symbol, { ...state.instruments.get(inst.symbol), ...inst });
  if (!state.books.has(inst.symbol)) state.books.set(inst.symbol, new Book(inst.symbol));
  return known;
}

async function subscribeBook(symbol) {
  try {
    await conn.request({ type: "Subscribe", channel: "book", symbol });
  } catch (err) {
    console.warn(`hcx: book ${symbol}`, err);
  }
}

async function resubscribeBook(symbol) {
  if (state.resubscribing.has(symbol)) return;
  state.resubscribing.add(symbol);
  try {
    await conn.request({ type: "Unsubscribe", channel: "book", symbol });
    await subscribeBook(symbol);
  } catch (err) {
    console.warn(`hcx: resubscribing ${symbol}`, err);
  } finally {
    state.resubscribing.delete(symbol);
  }
}

async function authenticate() {
  const { wallet, key } = state.creds;
  try {
    await conn.request({ type: "Authenticate", wallet, key });
    state.authed = true;
    $("login-state").textContent = `signed in as ${wallet}`;
    $("trader-wallet").textContent = wallet;
    $("logout").hidden = false;
  } catch (err) {
    state.creds = null;
    state.authed = false;
    $("login-state").textContent = `sign-in failed: ${err.message}`;
  }
}

async function subscribePrivate() {
  // Fills have no query: after a reconnect the journal replays those this page missed.
  const fills = { type: "Subscribe", channel: "fills" };
  if (state.fillSeq !== null) fills.from_seq = state.fillSeq;
  // Subscribed before the queries are read (in order, on one connection): no gap.
  const [, , , open, portfolio] = await Promise.all([
    conn.request({ type: "Subscribe", channel: "orders" }),
    conn.request({ type: "Subscribe", channel: "portfolio" }),
    conn.request(fills),
    conn.request({ type: "GetOpenOrders" }),
    conn.request({ type: "GetPortfolio" }),
  ]);
  if (state.fillSeq === null) state.fillSeq = portfolio.seq;
  state.orders = new Map(open.orders.map((o) => [o.order_id, o]));
  state.balance = portfolio.balance;
  state.positions = new Map(portfolio.positions.map((p) => [p.symbol, p]));
  scheduleDraw();
}

// --- messages --------------------------------------------------------------------------

function onMessage(m) {
  switch (m.type) {
    case "BookSnapshot": {
      const book = state.books.get(m.symbol);
      if (book) book.snapshot(m);
      break;
    }
    case "BookUpdate": {
      const book = state.books.get(m.symbol);
      if (book && book.update(m) === "gap") resubscribeBook(m.symbol);
      break;
    }
    case "Trade":
      state.lastTrade.set(m.symbol, m);
      state.trades.unshift(m);
      state.trades.length = Math.min(state.trades.length, RECENT_TRADES);
      break;
    case "Instrument":
      if (!addInstrument(m) && conn.open) subscribeBook(m.symbol);
      break;
    case "IndexPrice":
      state.index.set(m.underlying, m);
      break;
    case "OrderUpdate":
      applyOrder(m);
      break;
    case "Fill":
      if (!state.fillIds.has(m.fill_id)) {
        state.fillIds.add(m.fill_id);
        state.fills.unshift(m);
        state.fills.length = Math.min(state.fills.length, RECENT_FILLS);
      }
      state.fillSeq = Math.max(state.fillSeq ?? 0, m.seq);
      break;
    case "Balance":
      state.balance = m;
      break;
    case "Position":
      state.positions.set(m.symbol, m);
      break;
    case "PositionExpired":
      state.positions.delete(m.symbol);
      break;
    case "Error":
      showResult(`${m.code}: ${m.message}`, true);
      break;
    default:
      return;
  }
  scheduleDraw();
}

function applyOrder(order) {
  if (order.replaced_order_id) {
    state.orders.delete(order.replaced_order_id);
    state.closed.add(order.replaced_order_id);
  }
  if (order.order_id === undefined || order.order_id === null) return;
  const known = state.orders.get(order.order_id);
  if (known && known.seq > order.seq) return;
  if (LIVE.has(order.status) && !state.closed.has(order.order_id)) {
    state.orders.set(order.order_id, order);
  } else if (!LIVE.has(order.status)) {
    state.orders.delete(order.order_id);
    state.closed.add(order.order_id);
  }
  scheduleDraw();
}

// --- trading ---------------------------------------------------------------------------

function showResult(text, bad = false) {
  const node = $("ticket-result");
  node.textContent = text;
  node.classList.toggle("bad", bad);
}

async function runCommand(message) {
  try {
    const result = await conn.command(message);
    applyOrder(result);
    const what = result.order_id ? `order ${result.order_id}` : "order";
    const reason = result.reason ? ` (${result.reason})` : "";
    showResult(`${what} ${result.status}${reason}`, result.status === "rejected");
    return result;
  } catch (err) {
    showResult(`${err.answer?.field ? `${err.answer.field}: ` : ""}${err.message}`, true);
    return null;
  }
}

function placeOrder(event) {
  event.preventDefault();
  if (!state.selected) return;
  runCommand({
    type: "PlaceOrder",
    symbol: state.selected,
    side: $("ticket-side").value,
    price: $("ticket-price").value.trim(),
    size: $("ticket-size").value.trim(),
    tif: $("ticket-tif").value,
  });
}

function replaceOrder(order, price, size) {
  runCommand({ type: "ReplaceOrder", order_id: order.order_id, price: price.trim(), size: size.trim() });
}

function cancelOrder(order) {
  runCommand({ type: "CancelOrder", order_id: order.order_id });
}

async function signIn(event) {
  event.preventDefault();
  state.creds = { wallet: $("login-wallet").value.trim(), key: $("login-key").value.trim() };
  $("login-key").value = "";
  if (!conn.open) return; // the next connection signs in
  await authenticate();
  if (state.authed) await subscribePrivate();
  scheduleDraw();
}

function setStatus(status) {
  const node = $("conn");
  node.dataset.state = status;
  document.body.dataset.conn = status; // what is on screen may be stale until "open"
  node.textContent = { open: "live", connecting: "connecting…", closed: "reconnecting…" }[status];
}

async function main() {
  $("login").addEventListener("submit", signIn);
  $("logout").addEventListener("click", () => location.reload());
  $("ticket").addEventListener("submit", placeOrder);
  window.addEventListener("hashchange", () => {
    const symbol = decodeURIComponent(location.hash.slice(1));
    if (state.instruments.has(symbol)) select(symbol);
  });
  const config = await (await fetch("config.json", { cache: "no-store" })).json();
  performance.mark("hcx:config");
  conn = new Connection(config.ws_url, { onOpen, onMessage, onStatus: setStatus });
  conn.start();
}

main();
