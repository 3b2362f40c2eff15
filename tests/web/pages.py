"""The web client as a person uses it, through Playwright: what the tests do and read."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from playwright.async_api import BrowserContext, ConsoleMessage, Error, Locator, Page, expect

PASSPHRASE = "cheval agrafe batterie correcte"
TIMEOUT_MS = 15_000
AXE = Path(__file__).resolve().parents[2] / "messaging" / "web" / "node_modules" / "axe-core"

# The machine is shared: give the browser time (Argon2id alone takes a second or more).
expect.set_options(timeout=TIMEOUT_MS)

# Collected in the page from its first script on: a CSP violation is a defect, never noise.
_WATCH = """
window.__liaisonViolations = [];
document.addEventListener("securitypolicyviolation", (e) => {
  window.__liaisonViolations.push(`${e.violatedDirective} ${e.blockedURI}`);
});
"""


@dataclass
class WebPage:
    context: BrowserContext
    page: Page
    base_url: str
    errors: list[str] = field(default_factory=list)

    @classmethod
    async def open(cls, context: BrowserContext, base_url: str) -> WebPage:
        context.set_default_timeout(TIMEOUT_MS)
        await context.add_init_script(_WATCH)
        page = await context.new_page()
        web = cls(context, page, base_url)
        page.on("pageerror", lambda error: web.errors.append(f"page error: {error}"))
        page.on("console", web._console)
        await page.goto(f"{base_url}/app/")
        return web

    def _console(self, message: ConsoleMessage) -> None:
        # Chromium logs every 4xx answer of fetch as an error; the tests cause some on purpose,
        # and the client reports them itself.
        if message.type == "error" and not message.text.startswith("Failed to load resource"):
            self.errors.append(f"console error: {message.text}")

    async def problems(self) -> list[str]:
        try:
            violations: list[str] = await self.page.evaluate("window.__liaisonViolations")
        except Error:
            violations = []
        return self.errors + [f"CSP violation: {v}" for v in violations]

    def by_id(self, element_id: str) -> Locator:
        return self.page.locator(f"#{element_id}")

    # access

    async def enroll(self, principal: str, code: str, passphrase: str = PASSPHRASE) -> None:
        page = self.page
        await expect(page.get_by_role("heading", name="Enregistrer cet appareil")).to_be_visible()
        form = self.by_id("enroll-form")
        await form.get_by_label("Identifiant").fill(principal)
        await form.get_by_label("Code d'enregistrement").fill(code)
        await form.get_by_label("Phrase de passe (12 caractères au moins)").fill(passphrase)
        await form.get_by_label("Confirmez la phrase de passe").fill(passphrase)
        await form.get_by_role("button", name="Enregistrer l'appareil").click()
        await self.expect_live()

    async def unlock(self, passphrase: str = PASSPHRASE) -> None:
        form = self.by_id("unlock-form")
        await form.get_by_label("Phrase de passe").fill(passphrase)
        await form.get_by_role("button", name="Déverrouiller").click()
        await self.expect_live()

    async def expect_live(self) -> None:
        await expect(self.by_id("connection")).to_have_attribute("data-state", "live")

    async def device_id(self) -> str:
        await self.nav("Appareils")
        row = self.page.locator("#devices-rows tr", has_text="(cet appareil)")
        device = await row.get_attribute("data-device")
        assert device is not None
        return device

    # navigation and reading

    async def nav(self, name: str) -> None:
        await self.page.get_by_role("navigation").get_by_role("button", name=name).click()

    def inbox_items(self, kind: str = "message") -> Locator:
        return self.page.locator(f'#inbox-list li[data-kind="{kind}"]')

    async def open_message(self, subject: str) -> Locator:
        await self.nav("Boîte de réception")
        await self.inbox_items().filter(has_text=subject).get_by_role("button").click()
        reader = self.by_id("reader")
        await expect(reader.get_by_role("heading", name=subject)).to_be_visible()
        return reader

    # compose

    async def add_recipient(self, query: str, principal: str) -> None:
        await self.by_id("compose-form").get_by_label("Rechercher dans l'annuaire").fill(query)
        await self.page.locator(f'#recipient-results button[data-principal="{principal}"]').click()
        await expect(
            self.page.locator(f'#recipients-chosen li[data-principal="{principal}"]')
        ).to_be_visible()

    async def send(
        self,
        recipients: list[tuple[str, str]],
        subject: str,
        body: str,
        *,
        files: list[dict[str, Any]] | None = None,
        dossier: dict[str, Any] | None = None,
    ) -> Locator:
        """Compose and send; answers the result region once it shows the outcome."""
        form = self.by_id("compose-form")
        await self.nav("Nouveau message")
        for query, principal in recipients:
            await self.add_recipient(query, principal)
        await form.get_by_label("Objet").fill(subject)
        await form.get_by_label("Message", exact=True).fill(body)
        if files:
            await form.get_by_label("Pièces jointes").set_input_files(files)  # type: ignore[arg-type]
        if dossier is not None:
            await form.get_by_label("Verser ce message au DMP du patient").check()
            await form.get_by_label("INS du patient").fill(dossier["ins"])
            await form.get_by_label("Type de document").select_option(
                dossier.get("type", "compte-rendu")
            )
            await form.get_by_label("Titre du document").fill(dossier["title"])
            if dossier.get("masked"):
                await form.get_by_label("Masqué").check()
        await form.get_by_role("button", name="Envoyer").click()
        result = self.by_id("compose-result")
        await expect(result.locator("p[data-sent], p[data-error]")).to_be_visible()
        return result

    # accessibility

    async def axe(self) -> list[dict[str, Any]]:
        """axe-core's serious and critical violations on the page as it is now."""
        # Evaluated through the DevTools protocol, which the page's CSP does not govern; the page
        # itself never loads it.
        if not await self.page.evaluate("typeof axe !== 'undefined'"):
            await self.page.evaluate((AXE / "axe.min.js").read_text(encoding="utf-8"))
        result: dict[str, Any] = await self.page.evaluate(
            "axe.run(document, {resultTypes: ['violations']})"
        )
        assert result["passes"], "axe-core checked nothing"
        return [
            {"id": v["id"], "impact": v["impact"], "nodes": [n["target"] for n in v["nodes"]]}
            for v in result["violations"]
            if v["impact"] in ("serious", "critical")
        ]

    async def screenshot(self, path: Path, *, full_page: bool = False) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        await self.page.screenshot(path=str(path), full_page=full_page)
