"""Accessibility: axe-core finds no serious or critical violation on any screen, and the whole
journey (enroll, read, answer, link to a dossier, revoke a device) works with the keyboard only."""

from __future__ import annotations

from typing import Any

from playwright.async_api import expect

from messaging.client import AdminClient, ReceivedMessage, enroll
from tests.web.conftest import BROWSER
from tests.web.pages import PASSPHRASE, WebPage
from tests.web.people import OpenPage, Pair, professional, received, sdk_device

pytestmark = BROWSER

MAX_TABS = 60


async def tab_to(web: WebPage, selector: str) -> None:
    """Press Tab until the element matching ``selector`` has the focus: it is reachable."""
    target = web.page.locator(selector)
    for _ in range(MAX_TABS):
        await web.page.keyboard.press("Tab")
        if await target.evaluate("(node) => node === document.activeElement"):
            return
    raise AssertionError(f"{selector} cannot be reached with Tab")


async def test_no_serious_axe_violation_on_any_screen(people: Pair, open_page: OpenPage) -> None:
    web, alice, sdk = people.web, people.alice, people.sdk
    screens: dict[str, list[dict[str, Any]]] = {"enroll": await (await open_page()).axe()}
    await sdk.send([alice], "Compte rendu", "Vu ce jour.", [("cr.txt", "text/plain", b"CR")])
    await web.open_message("Compte rendu")
    screens["inbox"] = await web.axe()
    await web.nav("Nouveau message")
    await web.by_id("compose-form").get_by_label("Rechercher dans l'annuaire").fill("Bru")
    await expect(web.page.locator("#recipient-results button")).to_have_count(1)
    await web.page.get_by_label("Verser ce message au DMP du patient").check()
    screens["compose"] = await web.axe()
    await web.nav("Appareils")
    await expect(web.page.locator("#devices-rows tr")).to_have_count(1)
    screens["devices"] = await web.axe()
    await web.nav("Envoyés")
    screens["sent"] = await web.axe()
    await web.nav("Verrouiller")
    screens["lock"] = await web.axe()
    assert {name: found for name, found in screens.items() if found} == {}


async def test_the_whole_journey_works_with_the_keyboard_only(
    open_page: OpenPage, admin: AdminClient, base_url: str
) -> None:
    alice = await professional(admin, "Dr Alice Martin", "médecin généraliste")
    bruno = await professional(admin, "Dr Bruno Petit", "cardiologue")
    web = await open_page()
    keyboard = web.page.keyboard
    code = (await admin.enrollment_code(alice)).code
    # The first field has the focus once the client has started.
    await expect(web.by_id("enroll-principal")).to_be_focused()
    await keyboard.type(alice)
    for selector, text in (
        ("#enroll-code", code),
        ("#enroll-passphrase", PASSPHRASE),
        ("#enroll-confirm", PASSPHRASE),
    ):
        await tab_to(web, selector)
        await keyboard.type(text)
    await keyboard.press("Enter")
    await web.expect_live()

    async with await sdk_device(admin, base_url, bruno) as sdk:
        await sdk.send([alice], "Question", "Pouvez-vous me rappeler ?")
        item = web.inbox_items().get_by_role("button")
        await expect(item).to_have_count(1)
        await tab_to(web, "#inbox-list button")
        await keyboard.press("Enter")
        await expect(web.by_id("reader")).to_be_focused()
        await tab_to(web, "#reader button:text('Répondre')")
        await keyboard.press("Enter")

        # The reply is addressed; add a second recipient by searching, then send.
        await expect(
            web.page.locator(f'#recipients-chosen li[data-principal="{bruno}"]')
        ).to_be_visible()
        await expect(web.by_id("compose-body")).to_be_focused()
        await keyboard.type("Je vous rappelle à 14 h.")
        await tab_to(web, "#compose-send")
        await keyboard.press("Enter")
        await expect(web.by_id("compose-result").locator("p.ok")).to_be_visible()
        [message] = await received(sdk, ReceivedMessage)
        assert (message.subject, message.body) == ("Re : Question", "Je vous rappelle à 14 h.")

        # A search result is chosen with the keyboard, and removed again.
        await tab_to(web, "#recipient-search")
        await keyboard.type("Petit")
        await tab_to(web, f'#recipient-results button[data-principal="{bruno}"]')
        await keyboard.press("Enter")
        await expect(web.by_id("recipient-search")).to_be_focused()
        await keyboard.press("Shift+Tab")
        await keyboard.press("Enter")
        await expect(web.page.locator("#recipients-chosen li")).to_have_count(0)

    # Devices: link a second one, then revoke it, confirming with the keyboard.
    await tab_to(web, "#nav button[data-view='devices']")
    await keyboard.press("Enter")
    await tab_to(web, "#link-code-button")
    await keyboard.press("Enter")
    await expect(web.by_id("devices-status")).to_contain_text("Code pour l'autre appareil")
    link_code = await web.by_id("devices-status").locator("[data-code]").inner_text()
    tablet = await enroll(base_url, alice, link_code, "tablette")
    await tab_to(web, "#nav button[data-view='devices']")
    await keyboard.press("Enter")
    rows = web.page.locator("#devices-rows tr")
    await expect(rows).to_have_count(2)
    await tab_to(web, "#devices-rows tr:not(:has-text('(cet appareil)')) button")
    await keyboard.press("Enter")
    await expect(web.page.locator("#devices-rows button.danger")).to_be_focused()
    await keyboard.press("Enter")
    await expect(rows).to_have_count(1)
    await expect(web.by_id("devices-status")).to_contain_text("révoqué")
    assert await rows.get_attribute("data-device") != tablet.device_id
