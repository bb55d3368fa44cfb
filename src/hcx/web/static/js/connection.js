// One WebSocket to the hcx gateway (subprotocol hcx.v1.json) that comes back after a drop.
// It correlates answers by `id`, resends commands in flight after a reconnect with the same
// request_id and ts (the server executes a command at most once), and knows nothing of
// the market: messages without a pending `id` go to onMessage.

const RETRY_MIN_MS = 250;
const RETRY_MAX_MS = 5000;

export function uuid4() {
  // crypto.randomUUID exists only in secure contexts; getRandomValues everywhere.
  const b = crypto.getRandomValues(new Uint8Array(16));
  b[6] = (b[6] & 0x0f) | 0x40;
  b[8] = (b[8] & 0x3f) | 0x80;
  const h = Array.from(b, (x) => x.toString(16).padStart(2, "0")).join("");
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
}

export class RequestError extends Error {
  constructor(answer) {
    super(answer.message || answer.code || "request failed");
    this.answer = answer;
  }
}

export class Connection {
  constructor(url, { onOpen, onMessage, onStatus }) {
    this.url = url;
    this.onOpen = onOpen;
    this.onMessage = onMessage;
    this.onStatus = onStatus;
    this.nextId = 1;
    this.pending = new Map(); // id -> {message, resolve, reject, resend}
    this.ws = null;
    this.retryMs = RETRY_MIN_MS;
    this.connects = 0;
  }

  start() {
    this.onStatus("connecting");
    const ws = new WebSocket(this.url, ["hcx.v1.json"]);
    this.ws = ws;
    ws.onopen = async () => {
      this.retryMs = RETRY_MIN_MS;
      this.connects += 1;
      this.onStatus("open");
      try {
        await this.onOpen(this.connects > 1);
      } catch (err) {
        console.warn("hcx: setting up the connection failed", err);
        return;
      }
      for (const [id, entry] of this.pending) {
        if (entry.resend && entry.sentOn !== ws) {
          entry.sentOn = ws;
          ws.send(JSON.stringify(entry.message));
        }
      }
    };
    ws.onmessage = (event) => {
      let message;
      try {
        message = JSON.parse(event.data);
      } catch {
        return;
      }
      const entry = message.id !== undefined ? this.pending.get(message.id) : undefined;
      if (entry && message.type !== "BookSnapshot") {
        this.pending.delete(message.id);
        if (message.type === "Error") entry.reject(new RequestError(message));
        else entry.resolve(message);
        return;
      }
      this.onMessage(message);
    };
    ws.onclose = () => {
      if (this.ws !== ws) return;
      this.ws = null;
      this.onStatus("closed");
      for (const [id, entry] of this.pending) {
        if (!entry.resend) {
          this.pending.delete(id);
          entry.reject(new RequestError({ code: "connection_lost", message: "connection lost" }));
        }
      }
      const wait = this.retryMs * (0.75 + Math.random() / 2);
      this.retryMs = Math.min(this.retryMs * 2, RETRY_MAX_MS);
      setTimeout(() => this.start(), wait);
    };
  }

  get open() {
    return this.ws !== null && this.ws.readyState === WebSocket.OPEN;
  }

  // A query or subscription: answered by `id`, dropped (rejected) with the connection.
  request(message) {
    return this._send({ ...message, id: this.nextId++ }, false);
  }

  // A journaled command: request_id and ts are set once, so a resend is a repeat.
  command(message) {
    const full = { ...message, id: this.nextId++, request_id: uuid4(), ts: Date.now() };
    return this._send(full, true);
  }

  _send(message, resend) {
    return new Promise((resolve, reject) => {
      const entry = { message, resolve, reject, resend, sentOn: null };
      if (this.open) {
        entry.sentOn = this.ws;
        this.ws.send(JSON.stringify(message));
      } else if (!resend) {
        reject(new RequestError({ code: "connection_lost", message: "not connected" }));
        return;
      }
      this.pending.set(message.id, entry);
    });
  }

  // Fire and forget (an Unsubscribe whose answer nobody waits for).
  post(message) {
    if (this.open) this.ws.send(JSON.stringify(message));
  }
}
