// What this device has received and sent, kept encrypted in the vault (keystore.js) and held in
// memory while unlocked. Every event is verified (receiver.js), then stored, and only then acked
// by the stream: an event that comes again (at-least-once delivery, a reconnection, a server
// restart) is recognised by its id and acked again without being shown twice.
import { verifyFrame } from "./receiver.js";

const KINDS = ["message", "sent", "receipt", "notice", "invalid"];

export class Mailbox {
  #vault;
  #session;
  #onChange;

  constructor(vault, session, onChange) {
    this.#vault = vault;
    this.#session = session;
    this.#onChange = onChange;
    this.message = new Map();
    this.sent = new Map();
    this.receipt = new Map();
    this.notice = new Map();
    this.invalid = new Map();
  }

  async load() {
    for (const kind of KINDS) {
      for (const record of await this.#vault.all(kind)) this[kind].set(record.key, record);
    }
    this.#onChange();
  }

  async #keep(kind, record) {
    if (this[kind].has(record.key) || (await this.#vault.has(kind, record.key))) return false;
    await this.#vault.put(kind, record.key, record);
    this[kind].set(record.key, record);
    return true;
  }

  /** Verify, store and show the event of one frame; resolves to its cursor once it may be
   * acked (null when it has none). */
  async accept(frame) {
    const event = await verifyFrame(this.#session, frame);
    let added;
    if (event.kind === "message") {
      added = await this.#acceptMessage(event);
    } else if (event.kind === "receipt") {
      const { messageId, recipient, device, status, at } = event;
      added = await this.#keep("receipt", { key: `${messageId}/${device}`, messageId, recipient, device, status, at });
    } else if (event.kind === "notification") {
      added = await this.#keep("notice", {
        key: event.cursor, event: event.event, notification: event.notification, read: false,
      });
    } else {
      const envelope = event.raw?.envelope ?? {};
      added = await this.#keep("invalid", {
        key: event.cursor ?? `${Date.now()}`,
        eventType: event.eventType,
        code: event.code,
        detail: event.detail,
        sender: typeof envelope.sender === "string" ? envelope.sender : null,
        id: typeof envelope.id === "string" ? envelope.id : null,
        read: false,
      });
    }
    if (added) this.#onChange();
    return event.cursor;
  }

  async #acceptMessage(m) {
    const me = this.#session.identity.principal;
    const common = {
      id: m.id, recipients: m.recipients, createdAt: m.createdAt, subject: m.subject, body: m.body,
      attachments: m.attachments, inReplyTo: m.inReplyTo, dossier: m.dossier,
    };
    if (m.sender === me) {
      // A copy of what another device of this principal sent.
      return this.#keep("sent", { key: m.id, ...common, acceptedAt: m.receivedAt, fromDevice: m.senderDevice, deliveries: [], outcome: null });
    }
    const entry = await this.#session.directory(m.sender);
    return this.#keep("message", {
      key: `${m.sender}/${m.id}`, ...common, sender: m.sender, senderName: entry.display_name,
      senderDevice: m.senderDevice, receivedAt: m.receivedAt, read: false,
    });
  }

  async recordSent(record) {
    if (await this.#keep("sent", { key: record.id, ...record })) this.#onChange();
  }

  async markRead(kind, key) {
    const record = this[kind].get(key);
    if (!record || record.read) return;
    record.read = true;
    await this.#vault.put(kind, key, record);
    this.#onChange();
  }

  unreadCount() {
    let count = 0;
    for (const kind of ["message", "notice", "invalid"]) {
      for (const record of this[kind].values()) if (!record.read) count += 1;
    }
    return count;
  }

  receiptsFor(messageId) {
    return [...this.receipt.values()].filter((r) => r.messageId === messageId);
  }
}
