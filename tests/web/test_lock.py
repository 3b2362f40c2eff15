"""The passphrase lock: the device's keys and everything it received are stored encrypted in
IndexedDB; a reload without the passphrase shows nothing, a wrong one opens nothing, and
nothing secret or readable is ever in localStorage, sessionStorage, the URL or the database."""

from __future__ import annotations

from playwright.async_api import expect

from tests.web.conftest import BROWSER
from tests.web.pages import PASSPHRASE
from tests.web.people import Pair

pytestmark = BROWSER

SUBJECT = "Résultats biologiques de M. Lefèvre"
BODY = "Créatinine 182 µmol/L, à recontrôler."

# Every IndexedDB record of the client, each value as text (bytes read as Latin-1), to search.
_DUMP = """async () => {
  const db = await new Promise((ok, ko) => {
    const r = indexedDB.open("liaison");
    r.onsuccess = () => ok(r.result);
    r.onerror = () => ko(r.error);
  });
  const text = (value) => JSON.stringify(value, (k, v) =>
    v instanceof Uint8Array ? Array.from(v, (b) => String.fromCharCode(b)).join("") : v);
  const out = [];
  for (const name of db.objectStoreNames) {
    const all = await new Promise((ok) => {
      const r = db.transaction(name).objectStore(name).getAll(); r.onsuccess = () => ok(r.result);
    });
    out.push(...all.map(text));
  }
  db.close();
  return out;
}"""


async def test_a_reload_without_the_passphrase_shows_nothing_and_storage_holds_no_plaintext(
    people: Pair, base_url: str
) -> None:
    web, alice, sdk = people.web, people.alice, people.sdk
    await sdk.send([alice], SUBJECT, BODY)
    reader = await web.open_message(SUBJECT)
    await expect(reader).to_contain_text(BODY)

    page = web.page
    await page.reload()
    await expect(page.get_by_role("heading", name="Déverrouiller Liaison")).to_be_visible()
    content = await page.content()
    assert SUBJECT not in content
    assert BODY not in content
    await expect(page.get_by_role("navigation")).to_be_hidden()

    # A wrong passphrase opens nothing.
    form = web.by_id("unlock-form")
    await form.get_by_label("Phrase de passe").fill("pas la bonne phrase de passe")
    await form.get_by_role("button", name="Déverrouiller").click()
    await expect(web.by_id("unlock-status")).to_have_text("Phrase de passe incorrecte.")
    assert SUBJECT not in await page.content()

    # What the browser keeps: no Web Storage at all, nothing in the URL, and IndexedDB records
    # in which neither the message nor any key appears in clear.
    assert await page.evaluate("[localStorage.length, sessionStorage.length]") == [0, 0]
    assert page.url == f"{base_url}/app/"
    records = await page.evaluate(_DUMP)
    assert len(records) >= 2  # the device, and the message in the vault
    for needle in (
        SUBJECT,
        BODY,
        "Lefèvre".encode().decode("latin-1"),
        "sign_seed",
        "box_secret",
        PASSPHRASE,
    ):
        assert not any(needle in record for record in records), needle

    # The right passphrase: the message is back, from the vault (the server deleted it on ack).
    await web.unlock()
    reader = await web.open_message(SUBJECT)
    await expect(reader).to_contain_text(BODY)

    # "Verrouiller" forgets the keys and the messages without a reload.
    await web.nav("Verrouiller")
    await expect(page.get_by_role("heading", name="Déverrouiller Liaison")).to_be_visible()
    assert SUBJECT not in await page.content()
