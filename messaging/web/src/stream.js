// The WebSocket stream (/v1/stream): first-frame authentication (a browser cannot set headers),
// the backlog, "queue_empty", live events, acks; reconnection with capped, jittered backoff.
//
// Events are handled one at a time, in order: ``onEvent`` resolves once the event is kept (or
// known), and only then is it acked, so a socket lost midway loses nothing; what comes again is
// dropped by the caller as a duplicate. A newer socket of this device closes this one with 4409:
// the stream then stops and says so, rather than fight the other tab for the device.
import { ApiError } from "./api.js";
import { readJson } from "./json.js";
import { CLOSE_AUTH_FAILED, CLOSE_DISPLACED } from "./protocol.js";

const ACK_BATCH = 500;
const FIRST_DELAY_MS = 500;
const MAX_DELAY_MS = 30_000;

export class EventStream {
  #session;
  #handlers;
  #ws = null;
  #stopped = true;
  #delay = FIRST_DELAY_MS;
  #authFailures = 0;
  #timer = null;
  #queue = Promise.resolve();
  #pendingAcks = [];

  /** handlers: onEvent(frame text) -> Promise<cursor to ack | null>, onDrained(),
   * onState(state, detail). */
  constructor(session, handlers) {
    this.#session = session;
    this.#handlers = handlers;
  }

  start() {
    this.#stopped = false;
    this.#delay = FIRST_DELAY_MS;
    this.#authFailures = 0;
    this.#connect();
  }

  stop() {
    this.#stopped = true;
    clearTimeout(this.#timer);
    const ws = this.#ws;
    this.#ws = null;
    if (ws) ws.close(1000, "closed by the client");
  }

  async #connect() {
    if (this.#stopped) return;
    this.#handlers.onState("connecting");
    let token;
    try {
      token = await this.#session.bearer();
    } catch (error) {
      if (error instanceof ApiError && !error.transient) {
        this.#handlers.onState("failed", error.code);
        return;
      }
      this.#retry();
      return;
    }
    if (this.#stopped) return;
    const url = new URL("/v1/stream", window.location.href);
    url.protocol = url.protocol === "https:" ? "wss:" : "ws:";
    const ws = new WebSocket(url);
    this.#ws = ws;
    ws.onopen = () => ws.send(JSON.stringify({ type: "auth", token }));
    ws.onmessage = (message) => {
      this.#queue = this.#queue.then(() => this.#frame(ws, message.data));
    };
    ws.onclose = (close) => {
      this.#queue = this.#queue.then(() => this.#closed(ws, close.code, token));
    };
  }

  async #frame(ws, data) {
    let frame = null;
    try {
      frame = readJson(data);
    } catch {
      // an unreadable frame is an event the mailbox reports as invalid
    }
    this.#delay = FIRST_DELAY_MS;
    this.#authFailures = 0;
    if (frame?.type === "queue_empty") {
      this.#handlers.onState("live");
      this.#handlers.onDrained();
      return;
    }
    if (frame?.type === "error") {
      console.warn("liaison stream: the server refused a frame:", frame.code);
      return;
    }
    try {
      const cursor = await this.#handlers.onEvent(data);
      if (typeof cursor === "string") this.#ack(ws, cursor);
    } catch (error) {
      // Not kept (the server or the storage failed): reconnect, and it comes again.
      console.warn("liaison stream: an event could not be handled:", error?.code ?? error?.name);
      ws.close(4000, "event not handled");
    }
  }

  // Acks of one burst share a frame (one ack script and one receipt round trip on the server).
  #ack(ws, cursor) {
    this.#pendingAcks.push(cursor);
    if (this.#pendingAcks.length > 1) return;
    queueMicrotask(() => {
      while (this.#pendingAcks.length && ws.readyState === WebSocket.OPEN) {
        ws.send(JSON.stringify({ type: "ack", cursors: this.#pendingAcks.splice(0, ACK_BATCH) }));
      }
      this.#pendingAcks = [];
    });
  }

  #closed(ws, code, token) {
    if (ws !== this.#ws || this.#stopped) return;
    this.#ws = null;
    if (code === CLOSE_DISPLACED) {
      this.#stopped = true;
      this.#handlers.onState("displaced");
      return;
    }
    if (code === CLOSE_AUTH_FAILED) {
      this.#authFailures += 1;
      if (this.#authFailures > 1) {
        this.#stopped = true;
        this.#handlers.onState("failed", "stream_auth_failed");
        return;
      }
      // A revoked device fails at the next login, with the server's own reason.
      this.#session.dropToken(token);
    }
    this.#retry();
  }

  #retry() {
    this.#handlers.onState("offline");
    const wait = this.#delay * (0.5 + Math.random() / 2);
    this.#delay = Math.min(this.#delay * 2, MAX_DELAY_MS);
    this.#timer = setTimeout(() => this.#connect(), wait);
  }
}
