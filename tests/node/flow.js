// One end-to-end flow against `hcx serve --auth none`, written only from docs/protocol.md:
// list an option, fund two wallets, rest an order, take it, and see the trade on the
// trades channel, in GetTrades and in the book. Prints one JSON line per step and a final
// {"ok":true,...}; exits 1 with {"ok":false,"error":...} on anything unexpected.
"use strict";

const crypto = require("crypto");
const WebSocket = require("ws");

const url = process.argv[2];
const SYMBOL = "BTC-20301231-3000-C";
const EXPIRY_MS = 1924905600000;

function fail(error) {
  console.log(JSON.stringify({ ok: false, error: String(error && error.stack ? error.stack : error) }));
  process.exit(1);
}

class Conn {
  constructor(name) {
    this.name = name;
    this.ws = new WebSocket(url, "hcx.v1.json");
    this.inbox = [];
    this.waiters = [];
    this.nextId = 0;
    this.ws.on("message", (data) => {
      const message = JSON.parse(data.toString());
      this.inbox.push(message);
      this.waiters = this.waiters.filter((w) => !w());
    });
    this.ws.on("error", fail);
  }
  open() {
    return new Promise((resolve) => this.ws.once("open", resolve));
  }
  // The first message (received so far or later) for which `match` is true, removed.
  next(match, what) {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`${this.name}: no ${what} in 10 s`)), 10000);
      const look = () => {
        const index = this.inbox.findIndex(match);
        if (index < 0) return false;
        clearTimeout(timer);
        resolve(this.inbox.splice(index, 1)[0]);
        return true;
      };
      if (!look()) this.waiters.push(look);
    });
  }
  request(message) {
    const id = `${this.name}-${++this.nextId}`;
    this.ws.send(JSON.stringify({ ...message, id }));
    return this.next((m) => m.id === id, message.type + " answer").then((answer) => {
      if (answer.type === "Error") throw new Error(`${message.type}: ${JSON.stringify(answer)}`);
      return answer;
    });
  }
  command(type, fields) {
    return this.request({ type, request_id: crypto.randomUUID(), ts: Date.now(), ...fields });
  }
}

function step(name, value) {
  console.log(JSON.stringify({ step: name, value }));
}

async function main() {
  const admin = new Conn("admin");
  const alice = new Conn("alice");
  const bob = new Conn("bob");
  await Promise.all([admin.open(), alice.open(), bob.open()]);
  for (const [conn, wallet] of [[admin, "admin"], [alice, "alice"], [bob, "bob"]]) {
    const auth = await conn.request({ type: "Authenticate", wallet });
    if (auth.type !== "Authenticated" || auth.wallet !== wallet) throw new Error(JSON.stringify(auth));
  }
  const listed = await admin.command("CreateInstrument", {
    symbol: SYMBOL, underlying: "BTC", expiry_ms: EXPIRY_MS, strike: "3000", option: "call",
    tick_size: "0.1", lot_size: "1",
  });
  step("listed", listed.status);
  await admin.command("SetIndexPrice", { underlying: "BTC", price: "3000" });
  for (const wallet of ["alice", "bob"]) {
    const funded = await admin.command("Deposit", { wallet, amount: "100000" });
    if (funded.status !== "ok") throw new Error(JSON.stringify(funded));
  }

  await bob.request({ type: "Subscribe", channel: "trades", symbol: SYMBOL });
  await bob.request({ type: "Subscribe", channel: "book", symbol: SYMBOL });
  const snapshot = await bob.next((m) => m.type === "BookSnapshot", "BookSnapshot");
  step("snapshot", { bids: snapshot.bids, asks: snapshot.asks });

  const rest = await alice.command("PlaceOrder", { symbol: SYMBOL, side: "sell", price: "42.5", size: "3" });
  step("rested", rest.status);
  const take = await bob.command("PlaceOrder", { symbol: SYMBOL, side: "buy", price: "42.5", size: "2", tif: "ioc" });
  step("taken", { status: take.status, filled_size: take.filled_size });

  const trade = await bob.next((m) => m.type === "Trade", "Trade");
  step("trade", { seq: trade.seq, price: trade.price, size: trade.size, taker_side: trade.taker_side });
  const history = await bob.request({ type: "GetTrades", symbol: SYMBOL });
  step("history", history.trades.map((t) => [t.seq, t.price, t.size]));
  let book = snapshot;
  while (!(book.asks.length === 1 && book.asks[0][1] === "1")) {
    book = await bob.next((m) => m.type === "BookUpdate", "BookUpdate with the rest");
  }
  const portfolio = await bob.request({ type: "GetPortfolio" });
  step("position", portfolio.positions.map((p) => [p.symbol, p.size]));

  for (const conn of [admin, alice, bob]) conn.ws.close();
  console.log(JSON.stringify({
    ok: true,
    listed: listed.status,
    rested: rest.status,
    taken: take.status,
    filled: take.filled_size,
    trade: [trade.seq, trade.price, trade.size, trade.taker_side],
    history: history.trades.map((t) => t.seq),
    ask_left: book.asks[0],
    position: portfolio.positions.map((p) => p.size),
  }));
}

main().catch(fail);
