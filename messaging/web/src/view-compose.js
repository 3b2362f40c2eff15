// Compose: recipients from the directory search, subject, body, attachments (inline, or blobs
// uploaded with a progress bar each), and an optional dossier link (INS checked locally) whose
// outcome is shown to the sender.
import { byId, clear, el, formatSize } from "./dom.js";
import { errorText } from "./fr.js";
import { insProblem } from "./ins.js";
import { planAttachments, send, SendError } from "./sending.js";
import { outcomeParagraph } from "./view-mail.js";
import { b64uDecode } from "./encoding.js";

const SEARCH_DELAY_MS = 250;

/** A progress bar in ``region`` for each file uploaded as a blob, updated in place. */
function uploadProgress(region) {
  const shown = new Map();
  return (file, done, total) => {
    let line = shown.get(file);
    if (!line) {
      const bar = el("progress", { max: total, value: 0, "aria-label": `Envoi de ${file.name}` });
      const status = el("span", { role: "status" });
      line = { bar, status };
      shown.set(file, line);
      region.append(el("p", { class: "upload", "data-upload": file.name }, `Chiffrement et envoi de ${file.name} (${formatSize(file.size)}) `, bar, status));
    }
    line.bar.max = total;
    line.bar.value = done;
    line.status.textContent = ` ${Math.floor((100 * done) / total)} %`;
  };
}

export class ComposeView {
  #app;
  #chosen = new Map();
  #searchTimer = null;
  #searchSerial = 0;
  #inReplyTo = null;

  constructor(app) {
    this.#app = app;
    byId("recipient-search").addEventListener("input", () => this.#scheduleSearch());
    byId("dossier-link").addEventListener("change", (e) => {
      byId("dossier-fields").hidden = !e.target.checked;
    });
    byId("dossier-ins").addEventListener("blur", () => this.#checkIns());
    byId("compose-form").addEventListener("submit", (e) => {
      e.preventDefault();
      this.#submit();
    });
  }

  reset({ recipient = null, subject = "", inReplyTo = null } = {}) {
    byId("compose-form").reset();
    byId("dossier-fields").hidden = true;
    byId("dossier-ins-error").textContent = "";
    clear(byId("recipient-results"));
    clear(byId("compose-result"));
    this.#chosen.clear();
    if (recipient) this.#chosen.set(recipient.id, recipient);
    byId("compose-subject").value = subject;
    this.#inReplyTo = inReplyTo;
    this.#renderChosen();
  }

  #renderChosen() {
    const list = clear(byId("recipients-chosen"));
    for (const person of this.#chosen.values()) {
      const remove = () => {
        this.#chosen.delete(person.id);
        this.#renderChosen();
        byId("recipient-search").focus();
      };
      list.append(el("li", { "data-principal": person.id }, `${person.display_name} (${person.id})`,
        el("button", { type: "button", "aria-label": `Retirer ${person.display_name}`, onclick: remove }, "×")));
    }
  }

  #scheduleSearch() {
    clearTimeout(this.#searchTimer);
    this.#searchTimer = setTimeout(() => this.#search(), SEARCH_DELAY_MS);
  }

  async #search() {
    const q = byId("recipient-search").value.trim();
    const results = byId("recipient-results");
    const serial = ++this.#searchSerial;
    if (q.length < 2) {
      clear(results);
      return;
    }
    let found;
    try {
      found = await this.#app.session.search(q, 10);
    } catch (error) {
      if (serial === this.#searchSerial) clear(results).append(el("li", { class: "error" }, errorText(error)));
      return;
    }
    if (serial !== this.#searchSerial) return;
    clear(results);
    const usable = found.filter((p) => p.kind === "professional" || p.kind === "organisation");
    if (!usable.length) results.append(el("li", {}, "Aucun résultat."));
    for (const person of usable) {
      const add = () => {
        this.#chosen.set(person.id, person);
        this.#renderChosen();
        clear(results);
        const search = byId("recipient-search");
        search.value = "";
        search.focus();
      };
      const label = [person.display_name, person.profession, person.kind === "organisation" ? "organisation" : null, person.id]
        .filter(Boolean).join(" · ");
      results.append(el("li", {}, el("button", { type: "button", onclick: add, "data-principal": person.id }, `Ajouter ${label}`)));
    }
  }

  #checkIns() {
    const ins = byId("dossier-ins").value.trim();
    const problem = ins ? insProblem(ins) : null;
    byId("dossier-ins-error").textContent = problem ? errorText({ code: problem }) : "";
    byId("dossier-ins").setAttribute("aria-invalid", problem ? "true" : "false");
    return problem;
  }

  #dossier() {
    if (!byId("dossier-link").checked) return null;
    const ins = byId("dossier-ins").value.trim();
    const problem = insProblem(ins);
    if (problem) {
      this.#checkIns();
      byId("dossier-ins").focus();
      throw new SendError(problem, "bad INS");
    }
    const title = byId("dossier-title").value.trim();
    if (!title) {
      byId("dossier-title").focus();
      throw new SendError("missing_title", "no title");
    }
    return {
      ins,
      type: byId("dossier-type").value,
      title,
      masked: byId("dossier-masked").checked,
      hidden_from_holder: byId("dossier-hidden").checked,
      invisible_to_legal_representatives: byId("dossier-invisible").checked,
    };
  }

  async #submit() {
    const result = clear(byId("compose-result"));
    const button = byId("compose-send");
    try {
      if (!this.#chosen.size) throw new SendError("no_recipients", "no recipient");
      const dossier = this.#dossier();
      const subject = byId("compose-subject").value;
      const body = byId("compose-body").value;
      const recipients = [...this.#chosen.keys()];
      button.disabled = true;
      const working = el("p", {}, "Chiffrement et envoi…");
      result.append(working);
      const attachments = await planAttachments(this.#app.session, [...byId("compose-files").files], uploadProgress(result));
      const answer = await send(this.#app.session, { recipients, subject, body, attachments, inReplyTo: this.#inReplyTo, dossier });
      const record = {
        id: answer.id,
        recipients,
        createdAt: answer.accepted_at,
        acceptedAt: answer.accepted_at,
        subject,
        body,
        attachments: attachments.map((a) => ({ ...a, size: a.blob ? a.blob.size : b64uDecode(a.data).length })),
        inReplyTo: this.#inReplyTo,
        dossier: answer.dossierHeader,
        outcome: answer.dossier ?? null,
        deliveries: answer.deliveries,
        fromDevice: null,
      };
      await this.#app.mailbox.recordSent(record);
      // The upload bars stay, at 100 %, above the outcome.
      working.remove();
      result.append(el("p", { class: "ok", "data-sent": answer.id }, `Message chiffré et envoyé à ${recipients.join(", ")}.`));
      if (answer.dossier) result.append(outcomeParagraph(answer.dossier));
      this.#chosen.clear();
      this.#renderChosen();
      byId("compose-form").reset();
      byId("dossier-fields").hidden = true;
      this.#inReplyTo = null;
    } catch (error) {
      clear(result).append(el("p", { class: "error", "data-error": error.code ?? "error" }, errorText(error)));
    } finally {
      button.disabled = false;
    }
  }
}
