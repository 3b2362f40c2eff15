"""The client's own modules loaded in a page, for tests that call them directly."""

from __future__ import annotations

from typing import Any

from tests.web.pages import WebPage

_MODULES = """async () => {
  const [p, e, c, i, r, s, j, send, sodium, bs] = await Promise.all(
    ["protocol", "encoding", "crypto", "ins", "receiver", "session", "json", "sending", "sodium",
     "blob-stream"]
      .map((m) => import(`/app/src/${m}.js`)));
  await c.readyCrypto();
  const S = await sodium.loadSodium();
  const hex = (text) => new Uint8Array((text.match(/../g) ?? []).map((b) => parseInt(b, 16)));
  const toHex = (bytes) => Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
  window.liaison = { p, e, c, i, r, s, j, send, S, bs, hex, toHex };
}"""


async def run(web: WebPage, body: str, arg: Any = None) -> Any:
    """Evaluate ``body`` (an async function of ``arg`` using the modules ``L``) in the page."""
    return await web.page.evaluate(f"async (arg) => {{ const L = window.liaison; {body} }}", arg)


async def load(page: WebPage) -> WebPage:
    """``page`` with the client's modules at hand as ``L`` (see ``run``)."""
    await page.page.evaluate(_MODULES)
    return page
