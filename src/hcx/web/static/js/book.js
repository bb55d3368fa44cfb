// One order book kept by the protocol's rules: a BookSnapshot, then BookUpdates whose seq
// rises by exactly one. It never asks for anything itself: update() says "gap" and the
// owner resubscribes for a new snapshot.

export class Book {
  constructor(symbol) {
    this.symbol = symbol;
    this.seq = null;
    this.bids = new Map(); // price string -> size string
    this.asks = new Map();
  }

  get synced() {
    return this.seq !== null;
  }

  reset() {
    this.seq = null;
    this.bids.clear();
    this.asks.clear();
  }

  snapshot(message) {
    this.bids = levelsMap(message.bids);
    this.asks = levelsMap(message.asks);
    this.seq = message.seq;
  }

  // "applied", "stale" (already had it), "unsynced" (waiting for a snapshot) or "gap".
  update(message) {
    if (this.seq === null) return "unsynced";
    if (message.seq <= this.seq) return "stale";
    if (message.seq !== this.seq + 1) {
      this.reset();
      return "gap";
    }
    merge(this.bids, message.bids);
    merge(this.asks, message.asks);
    this.seq = message.seq;
    return "applied";
  }

  // [[price, size]...], best first.
  sortedBids() {
    return [...this.bids].sort((a, b) => Number(b[0]) - Number(a[0]));
  }

  sortedAsks() {
    return [...this.asks].sort((a, b) => Number(a[0]) - Number(b[0]));
  }

  bestBid() {
    return this.sortedBids()[0] || null;
  }

  bestAsk() {
    return this.sortedAsks()[0] || null;
  }
}

function levelsMap(levels) {
  const out = new Map();
  for (const [price, size] of levels) if (Number(size) !== 0) out.set(price, size);
  return out;
}

function merge(side, levels) {
  for (const [price, size] of levels) {
    if (Number(size) === 0) side.delete(price);
    else side.set(price, size);
  }
}
