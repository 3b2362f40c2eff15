// DOM helpers. Text only ever enters the page as text nodes (never as HTML), so nothing a sender
// writes can become markup or script.

export function byId(id) {
  const node = document.getElementById(id);
  if (!node) throw new Error(`no element #${id}`);
  return node;
}

/** An element with attributes (``class``, ``for``, ``aria-*``, booleans…) and children. */
export function el(tag, attributes = {}, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attributes)) {
    if (value === false || value === null || value === undefined) continue;
    if (name.startsWith("on") && typeof value === "function") {
      node.addEventListener(name.slice(2), value);
    } else {
      node.setAttribute(name, value === true ? "" : String(value));
    }
  }
  return fill(node, ...children);
}

/** Append ``children`` to ``node``, leaving out null, undefined and false. */
export function fill(node, ...children) {
  node.append(...children.flat().filter((c) => c !== null && c !== undefined && c !== false));
  return node;
}

export function clear(node) {
  node.replaceChildren();
  return node;
}

const DATE_FORMAT = new Intl.DateTimeFormat("fr-FR", { dateStyle: "short", timeStyle: "short" });

export function formatTime(timestamp) {
  const time = Date.parse(timestamp);
  return Number.isNaN(time) ? timestamp : DATE_FORMAT.format(new Date(time));
}

export function timeElement(timestamp) {
  return el("time", { datetime: timestamp }, formatTime(timestamp));
}

export function formatSize(bytes) {
  if (bytes < 1024) return `${bytes} o`;
  if (bytes < 1024 * 1024) return `${(bytes / 1024).toFixed(1).replace(".", ",")} Ko`;
  return `${(bytes / 1024 / 1024).toFixed(1).replace(".", ",")} Mo`;
}
