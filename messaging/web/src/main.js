// The application: the lock (enroll or unlock), then the inbox over the WebSocket, the sent
// messages, compose and devices. State lives in memory while unlocked; at rest only in the
// encrypted vault (keystore.js). Nothing goes to localStorage, the URL or the console.
import { ApiError, request } from "./api.js";
import { downloadBlob } from "./blobs.js";
import { boxKeySignature, enrollmentProof, generateDeviceKeys, readyCrypto } from "./crypto.js";
import { byId, clear } from "./dom.js";
import { b64uEncode } from "./encoding.js";
import { CONNECTION, errorText } from "./fr.js";
import { forget, KeystoreError, MIN_PASSPHRASE, saveDevice, storedDevice, unlock } from "./keystore.js";
import { Mailbox } from "./mailbox.js";
import { PRINCIPAL_PATTERN } from "./protocol.js";
import { DeviceSession } from "./session.js";
import { EventStream } from "./stream.js";
import { ComposeView } from "./view-compose.js";
import { DevicesView } from "./view-devices.js";
import { renderInbox, renderReader, renderSent } from "./view-mail.js";

const VIEWS = ["loading", "enroll", "lock", "inbox", "sent", "compose", "devices"];

class App {
  constructor() {
    this.session = null;
    this.mailbox = null;
    this.vault = null;
    this.stream = null;
    this.view = "loading";
    this.selected = null;
    this.selectedSent = null;
    this.compose = new ComposeView(this);
    this.devices = new DevicesView(this);
    byId("enroll-form").addEventListener("submit", (e) => {
      e.preventDefault();
      this.#enroll();
    });
    byId("unlock-form").addEventListener("submit", (e) => {
      e.preventDefault();
      this.#unlock();
    });
    byId("forget-button").addEventListener("click", () => this.forgetDevice("Les données de cet appareil sont effacées."));
    byId("lock-button").addEventListener("click", () => this.lock());
    byId("resume-button").addEventListener("click", () => this.#resume());
    for (const button of document.querySelectorAll("#nav [data-view]")) {
      button.addEventListener("click", () => this.show(button.dataset.view));
    }
  }

  async boot() {
    await readyCrypto();
    const stored = await storedDevice();
    if (stored) {
      byId("lock-device").textContent = `Appareil « ${stored.name} » de ${stored.principal}.`;
      this.show("lock");
    } else {
      this.show("enroll");
    }
  }

  show(view) {
    this.view = view;
    for (const name of VIEWS) byId(`view-${name}`).hidden = name !== view;
    for (const button of document.querySelectorAll("#nav [data-view]")) {
      if (button.dataset.view === view) button.setAttribute("aria-current", "page");
      else button.removeAttribute("aria-current");
    }
    if (view === "devices") this.devices.show();
    if (view === "compose" && !byId("recipients-chosen").children.length) this.compose.reset();
    const heading = byId(`view-${view}`).querySelector("h1");
    document.title = `${heading.textContent} · Liaison`;
    const field = byId(`view-${view}`).querySelector("input:not([type=hidden])");
    if ((view === "enroll" || view === "lock") && field) field.focus();
    else byId("main").focus();
  }

  alert(text) {
    const box = byId("alert");
    box.textContent = text;
    setTimeout(() => {
      if (box.textContent === text) box.textContent = "";
    }, 8000);
  }

  // --- enroll / unlock / lock ---------------------------------------------------------------

  async #enroll() {
    const status = byId("enroll-status");
    const principal = byId("enroll-principal").value.trim();
    const code = byId("enroll-code").value.trim();
    const name = byId("enroll-name").value.trim() || "Navigateur";
    const passphrase = byId("enroll-passphrase").value;
    try {
      if (!PRINCIPAL_PATTERN.test(principal)) throw new KeystoreError("bad_principal", "principal");
      if (passphrase.length < MIN_PASSPHRASE) throw new KeystoreError("weak_passphrase", "short");
      if (passphrase !== byId("enroll-confirm").value) throw new KeystoreError("passphrase_mismatch", "differ");
      status.textContent = "Création des clés et enregistrement…";
      const keys = generateDeviceKeys();
      const answer = await request("POST", "/v1/devices", {
        body: {
          principal,
          enrollment_code: code,
          name,
          sign_key: b64uEncode(keys.sign.publicKey),
          box_key: b64uEncode(keys.box.publicKey),
          box_key_signature: b64uEncode(boxKeySignature(keys)),
          proof: b64uEncode(enrollmentProof(keys, code)),
        },
      });
      if (answer.principal !== principal) throw new KeystoreError("principal_mismatch", "other principal");
      const opened = await saveDevice({ principal, deviceId: answer.device, name, keys }, passphrase);
      byId("enroll-form").reset();
      status.textContent = "";
      await this.#open(opened);
    } catch (error) {
      status.textContent = errorText(error);
    }
  }

  async #unlock() {
    const status = byId("unlock-status");
    const field = byId("unlock-passphrase");
    status.textContent = "Déverrouillage…";
    try {
      const opened = await unlock(field.value);
      field.value = "";
      status.textContent = "";
      await this.#open(opened);
    } catch (error) {
      status.textContent = errorText(error);
      field.select();
    }
  }

  async #open({ identity, vault }) {
    this.vault = vault;
    this.session = new DeviceSession(identity);
    this.mailbox = new Mailbox(vault, this.session, () => this.render());
    await this.mailbox.load();
    const whoami = byId("whoami");
    whoami.textContent = `${identity.principal} · appareil « ${identity.name} »`;
    whoami.hidden = false;
    byId("nav").hidden = false;
    this.show("inbox");
    this.stream = new EventStream(this.session, {
      onEvent: (raw) => this.mailbox.accept(raw),
      onDrained: () => {},
      onState: (state, detail) => this.#connection(state, detail),
    });
    this.stream.start();
    this.session.directory(identity.principal).then(
      (entry) => {
        whoami.textContent = `${entry.display_name} (${identity.principal}) · appareil « ${identity.name} »`;
      },
      () => {},
    );
  }

  // Another tab of this device held the stream meanwhile: take in what it stored, then resume.
  async #resume() {
    await this.mailbox?.load();
    this.stream?.start();
  }

  #connection(state, detail) {
    const line = byId("connection");
    line.textContent = CONNECTION[state] ?? state;
    line.dataset.state = state;
    byId("resume-button").hidden = state !== "displaced";
    if (state === "failed" && detail) this.alert(errorText({ code: detail }));
  }

  lock() {
    this.stream?.stop();
    this.vault?.close();
    this.stream = null;
    this.vault = null;
    this.session = null;
    this.mailbox = null;
    this.selected = null;
    this.selectedSent = null;
    for (const id of ["inbox-list", "reader", "sent-list", "sent-reader", "devices-rows", "recipients-chosen", "recipient-results", "compose-result"]) {
      clear(byId(id));
    }
    byId("compose-form").reset();
    byId("whoami").hidden = true;
    byId("nav").hidden = true;
    this.#connection("locked");
    this.boot();
  }

  async forgetDevice(reason) {
    this.stream?.stop();
    this.vault?.close();
    this.vault = null;
    await forget();
    this.lock();
    this.alert(reason);
  }

  // --- rendering ----------------------------------------------------------------------------

  render() {
    if (!this.mailbox) return;
    const unread = this.mailbox.unreadCount();
    byId("unread-count").textContent = unread ? `(${unread} non lu${unread > 1 ? "s" : ""})` : "";
    renderInbox(this.mailbox, this.selected, (selected) => this.#select(selected));
    const fetchBlob = (attachment, progress) => downloadBlob(this.session, attachment, progress);
    renderReader(this.mailbox, this.selected, { reply: (m) => this.#reply(m), fetchBlob });
    renderSent(this.mailbox, this.selectedSent, (key) => {
      this.selectedSent = key;
      this.render();
      byId("sent-reader").focus();
    }, fetchBlob);
  }

  async #select(selected) {
    this.selected = selected;
    this.render();
    byId("reader").focus();
    await this.mailbox.markRead(selected.kind, selected.key);
  }

  #reply(message) {
    this.show("compose");
    const subject = message.subject.startsWith("Re :") ? message.subject : `Re : ${message.subject}`;
    this.compose.reset({
      recipient: { id: message.sender, display_name: message.senderName },
      subject,
      inReplyTo: message.id,
    });
    byId("compose-body").focus();
  }
}

const app = new App();
app.boot().catch((error) => {
  byId("loading-title").textContent = "Le client n'a pas pu démarrer.";
  console.error("liaison: start failed:", error?.name);
});

window.addEventListener("unhandledrejection", (event) => {
  // Codes only: an error's message may quote what it was about.
  console.warn("liaison:", event.reason?.code ?? event.reason?.name ?? "error");
  app.alert(errorText(event.reason instanceof ApiError ? event.reason : { code: event.reason?.code }));
});
