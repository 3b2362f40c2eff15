// The inbox (messages and notifications, each shown distinctly) and the sent messages with
// their delivery receipts per recipient device and their dossier outcome.
import { byId, clear, el, fill, formatSize, timeElement } from "./dom.js";
import { documentTypeText, invalidText, notificationText, refusalText } from "./fr.js";
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

function downloadButton(attachment) {
  if (attachment.blob) {
    return el("li", {}, `${attachment.name} (${formatSize(attachment.size)}) : pièce jointe volumineuse, non prise en charge par ce client`);
  }
  const save = () => {
    const url = URL.createObjectURL(new Blob([b64uDecode(attachment.data)], { type: attachment.media_type }));
    const link = el("a", { href: url, download: attachment.name });
    document.body.append(link);
    link.click();
    link.remove();
    setTimeout(() => URL.revokeObjectURL(url), 10_000);
  };
  return el("li", {}, el("button", { type: "button", class: "secondary", onclick: save },
    `Télécharger ${attachment.name} (${formatSize(attachment.size)})`));
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

export function renderReader(mailbox, selected, { reply }) {
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
      ? el("section", { "aria-label": "Pièces jointes" }, el("h3", {}, "Pièces jointes"), el("ul", { class: "attachments" }, record.attachments.map(downloadButton)))
      : null,
    el("p", { class: "help" }, "Signature de l'appareil expéditeur vérifiée ; déchiffré sur cet appareil."),
    el("p", {}, el("button", { type: "button", onclick: () => reply(record) }, "Répondre")));
}

export function renderSent(mailbox, selectedId, select) {
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
    record.attachments.length ? el("ul", { class: "attachments" }, record.attachments.map(downloadButton)) : null,
    rows.length
      ? el("table", { class: "receipts" },
          el("caption", {}, "Accusés de distribution (signés par le serveur)"),
          el("thead", {}, el("tr", {}, el("th", { scope: "col" }, "Destinataire"), el("th", { scope: "col" }, "Appareil"), el("th", { scope: "col" }, "État"))),
          el("tbody", {}, rows))
      : null);
}
