// The inbox (messages and notifications, each shown distinctly) and the sent messages with
// their delivery receipts per recipient device and their dossier outcome.
import { byId, clear, el, fill, formatSize, timeElement } from "./dom.js";
import { documentTypeText, errorText, invalidText, notificationText, refusalText } from "./fr.js";
import { b64uDecode } from "./encoding.js";

function itemButton(current, onclick, ...lines) {
  return el("button", { type: "button", "aria-current": current ? "true" : false, onclick }, ...lines);
}

function inboxEntries(mailbox) {
  const entries = [];
  for (const m of mailbox.message.values()) entries.push({ kind: "message", at: m.receivedAt, record: m });
  for (const n of mailbox.notice.values()) entries.push({ kind: "notice", at: n.notification.at ?? "", record: n });
  for (const i of mailbox.invalid.values()) entries.push({ kind: "invalid", at: "", record: i });
  return entries.sort((a, b) => (a.at < b.at ? 1 : a.at > b.at ? -1 : 0));
}

export function renderInbox(mailbox, selected, select) {
  const list = clear(byId("inbox-list"));
  const entries = inboxEntries(mailbox);
  if (!entries.length) list.append(el("li", { class: "empty" }, "Aucun message."));
  for (const { kind, record } of entries) {
    const current = selected?.kind === kind && selected.key === record.key;
    const classes = [kind === "message" ? "" : kind, record.read ? "" : "unread"].join(" ").trim();
    const open = () => select({ kind, key: record.key });
    let button;
    if (kind === "message") {
      button = itemButton(current, open,
        el("span", { class: "item-line" }, record.read ? "" : el("span", { class: "tag" }, "Non lu"), record.subject || "(sans objet)"),
        el("span", { class: "item-meta" }, `${record.senderName} · `, timeElement(record.receivedAt)));
    } else if (kind === "notice") {
      button = itemButton(current, open,
        el("span", { class: "item-line" }, el("span", { class: "tag" }, "Notification DMP"), notificationText(record.notification)),
        el("span", { class: "item-meta" }, record.notification.at ? timeElement(record.notification.at) : ""));
    } else {
      button = itemButton(current, open,
        el("span", { class: "item-line" }, el("span", { class: "tag" }, "Rejeté"), `Événement non vérifié : ${invalidText(record.code)}`),
        el("span", { class: "item-meta" }, record.sender ?? ""));
    }
    list.append(el("li", { class: classes || null, "data-kind": kind }, button));
  }
}

/** Hand ``blob`` to the browser as a download named ``name``. */
function saveFile(blob, name) {
  const url = URL.createObjectURL(blob);
  const link = el("a", { href: url, download: name });
  document.body.append(link);
  link.click();
  link.remove();
  setTimeout(() => URL.revokeObjectURL(url), 10_000);
}

function downloadButton(attachment, fetchBlob) {
  if (attachment.blob) return blobItem(attachment, fetchBlob);
  const save = () => saveFile(new Blob([b64uDecode(attachment.data)], { type: attachment.media_type }), attachment.name);
  return el("li", {}, el("button", { type: "button", class: "secondary", onclick: save },
    `Télécharger ${attachment.name} (${formatSize(attachment.size)})`));
}

// A blob's download outlives a redraw of the reader (each new event redraws it): its state is
// kept here by blob id, and painted on whichever item shows that blob now.
const downloads = new Map();

function percent(done, total) {
  return `${total ? Math.floor((100 * done) / total) : 100} %`;
}

function blobItems(id) {
  return document.querySelectorAll(`li[data-blob="${id}"]`);
}

function paintBlob(item, attachment, fetchBlob) {
  const state = downloads.get(attachment.blob.id) ?? { phase: "idle" };
  const start = () => downloadFile(attachment, fetchBlob);
  const children = [el("button", { type: "button", class: "secondary", disabled: state.phase === "running", onclick: start },
    `Télécharger ${attachment.name} (${formatSize(attachment.size)})`)];
  if (state.phase === "running") {
    children.push(" ",
      el("progress", { max: state.total, value: state.done, "aria-label": `Téléchargement de ${attachment.name}` }),
      el("span", { class: "percent", role: "status" }, ` déchiffrement et vérification : ${percent(state.done, state.total)}`));
  } else if (state.phase === "done") {
    children.push(el("span", { class: "ok", role: "status", "data-saved": attachment.blob.id },
      " Fichier vérifié (chaque bloc et l'empreinte) et enregistré."));
  } else if (state.phase === "failed") {
    children.push(el("p", { class: "error", role: "alert", "data-error": state.code },
      `${attachment.name} : ${errorText(state)}`));
  }
  item.replaceChildren(...children);
}

function blobItem(attachment, fetchBlob) {
  const item = el("li", { "data-blob": attachment.blob.id });
  paintBlob(item, attachment, fetchBlob);
  return item;
}

function setDownload(attachment, fetchBlob, state) {
  downloads.set(attachment.blob.id, state);
  for (const item of blobItems(attachment.blob.id)) paintBlob(item, attachment, fetchBlob);
}

async function downloadFile(attachment, fetchBlob) {
  const { id } = attachment.blob;
  if (downloads.get(id)?.phase === "running") return;
  setDownload(attachment, fetchBlob, { phase: "running", done: 0, total: 1 });
  const progress = (done, total) => {
    const state = downloads.get(id);
    state.done = done;
    state.total = total;
    // In place: the button keeps its focus, and a long download redraws nothing else.
    for (const item of blobItems(id)) {
      const bar = item.querySelector("progress");
      if (bar) {
        bar.max = total;
        bar.value = done;
        item.querySelector(".percent").textContent = ` déchiffrement et vérification : ${percent(done, total)}`;
      }
    }
  };
  try {
    const file = await fetchBlob(attachment, progress);
    saveFile(file, attachment.name);
    setDownload(attachment, fetchBlob, { phase: "done" });
  } catch (error) {
    setDownload(attachment, fetchBlob, { phase: "failed", code: error.code ?? "error", message: error.message });
  }
}

function dossierBox(header, outcome) {
  if (!header) return null;
  const flags = [
    header.masked ? "masqué" : null,
    header.hidden_from_holder ? "caché au patient" : null,
    header.invisible_to_legal_representatives ? "invisible des représentants légaux" : null,
  ].filter(Boolean);
  return el("div", { class: "dossier-box" },
    el("p", {}, el("strong", {}, "Lié au DMP"), ` du patient INS ${header.ins} : ${header.title} (${documentTypeText(header.type)})`,
      flags.length ? ` ; ${flags.join(", ")}` : ""),
    outcome ? outcomeParagraph(outcome) : null);
}

export function outcomeParagraph(outcome) {
  if (outcome.status === "attached") {
    return el("p", { class: "outcome ok", "data-outcome": "attached" }, `Versé au DMP : document ${outcome.document}.`);
  }
  return el("p", { class: "outcome refused", "data-outcome": "refused" }, `Versement au DMP refusé : ${refusalText(outcome.code)}.`);
}

function details(pairs) {
  return el("dl", {}, pairs.filter(([, v]) => v !== null).flatMap(([term, value]) => [el("dt", {}, term), el("dd", {}, value)]));
}

export function renderReader(mailbox, selected, { reply, fetchBlob }) {
  const reader = byId("reader");
  clear(reader);
  reader.hidden = !selected;
  if (!selected) return;
  const record = mailbox[selected.kind].get(selected.key);
  if (!record) {
    reader.hidden = true;
    return;
  }
  if (selected.kind === "notice") {
    fill(reader,
      el("h2", { id: "reader-title" }, "Notification du DMP"),
      el("p", {}, notificationText(record.notification)),
      details(Object.entries(record.notification)
        .filter(([k]) => k !== "checkpoint")
        .map(([k, v]) => [k, typeof v === "string" ? v : JSON.stringify(v)])),
      record.notification.checkpoint
        ? el("p", { class: "help", "data-checkpoint": record.notification.checkpoint.seq },
            `Point de contrôle du journal d'accès signé par le serveur : entrée n° ${record.notification.checkpoint.seq}, `,
            timeElement(record.notification.checkpoint.at), ".")
        : null,
      el("p", { class: "help" }, "Notification signée par le serveur ; signature vérifiée."));
    return;
  }
  if (selected.kind === "invalid") {
    fill(reader,
      el("h2", { id: "reader-title" }, "Événement rejeté"),
      el("p", { class: "error" }, `Cet événement n'a pas passé les vérifications : ${invalidText(record.code)}. Son contenu n'est pas affiché.`),
      details([["Expéditeur annoncé", record.sender], ["Message", record.id], ["Détail", record.detail]]));
    return;
  }
  fill(reader,
    el("h2", { id: "reader-title" }, record.subject || "(sans objet)"),
    details([
      ["De", `${record.senderName} (${record.sender})`],
      ["Appareil", record.senderDevice],
      ["À", record.recipients.join(", ")],
      ["Écrit le", timeElement(record.createdAt)],
      ["Reçu le", timeElement(record.receivedAt)],
    ]),
    dossierBox(record.dossier, null),
    el("div", { class: "message-body" }, record.body),
    record.attachments.length
      ? el("section", { "aria-label": "Pièces jointes" }, el("h3", {}, "Pièces jointes"), el("ul", { class: "attachments" }, record.attachments.map((a) => downloadButton(a, fetchBlob))))
      : null,
    el("p", { class: "help" }, "Signature de l'appareil expéditeur vérifiée ; déchiffré sur cet appareil."),
    el("p", {}, el("button", { type: "button", onclick: () => reply(record) }, "Répondre")));
}

export function renderSent(mailbox, selectedId, select, fetchBlob) {
  const list = clear(byId("sent-list"));
  const records = [...mailbox.sent.values()].sort((a, b) => (a.acceptedAt < b.acceptedAt ? 1 : -1));
  if (!records.length) list.append(el("li", { class: "empty" }, "Aucun message envoyé."));
  for (const record of records) {
    const delivered = mailbox.receiptsFor(record.id).length;
    list.append(el("li", { "data-kind": "sent" }, itemButton(selectedId === record.key, () => select(record.key),
      el("span", { class: "item-line" }, record.subject || "(sans objet)"),
      el("span", { class: "item-meta" }, `À ${record.recipients.join(", ")} · `, timeElement(record.acceptedAt),
        record.deliveries.length ? ` · distribué ${delivered}/${record.deliveries.length}` : ""))));
  }
  const reader = clear(byId("sent-reader"));
  const record = selectedId ? mailbox.sent.get(selectedId) : null;
  reader.hidden = !record;
  if (!record) return;
  const receipts = new Map(mailbox.receiptsFor(record.id).map((r) => [r.device, r]));
  const rows = record.deliveries.map(({ principal, device }) => {
    const receipt = receipts.get(device);
    return el("tr", { "data-device": device },
      el("td", {}, principal), el("td", {}, device),
      el("td", {}, receipt ? ["Distribué le ", timeElement(receipt.at)] : "En attente"));
  });
  fill(reader,
    el("h2", { id: "sent-reader-title" }, record.subject || "(sans objet)"),
    details([
      ["À", record.recipients.join(", ")],
      ["Accepté le", timeElement(record.acceptedAt)],
      ["Envoyé depuis", record.fromDevice ? `un autre appareil (${record.fromDevice})` : null],
    ]),
    dossierBox(record.dossier, record.outcome),
    el("div", { class: "message-body" }, record.body),
    record.attachments.length ? el("ul", { class: "attachments" }, record.attachments.map((a) => downloadButton(a, fetchBlob))) : null,
    rows.length
      ? el("table", { class: "receipts" },
          el("caption", {}, "Accusés de distribution (signés par le serveur)"),
          el("thead", {}, el("tr", {}, el("th", { scope: "col" }, "Destinataire"), el("th", { scope: "col" }, "Appareil"), el("th", { scope: "col" }, "État"))),
          el("tbody", {}, rows))
      : null);
}
