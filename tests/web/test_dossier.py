"""A dossier-linked message from the browser: attached when the rules allow it, refused (and
still delivered) when they do not, refused whole when the patient opposes the exchange (MS-2),
and an INS with a bad key stopped in the browser before anything is sent (ID-1)."""

from __future__ import annotations

from pathlib import Path

from playwright.async_api import expect

from dossier_link.models import ConsentRequest
from messaging.client import AdminClient, LiaisonClient, ReceivedMessage, enroll
from tests.dossiers import ADULT_BIRTH, new_ins
from tests.web.conftest import BROWSER
from tests.web.people import Pair, received

pytestmark = BROWSER

LETTER = "Sortie ce jour. Traitement : bisoprolol 2,5 mg. Revoir dans un mois."


async def holder(admin: AdminClient, base_url: str) -> tuple[LiaisonClient, str]:
    """A patient with an enrolled device and an open dossier (express consent, CR-1)."""
    ins = new_ins(ADULT_BIRTH)
    principal = f"patient:{ins}"
    await admin.create_principal(principal, "patient", "Mme Durand", birth_date=ADULT_BIRTH)
    code = (await admin.enrollment_code(principal)).code
    client = LiaisonClient(base_url, await enroll(base_url, principal, code, "téléphone"))
    await client.dossiers.create(ins, consent=ConsentRequest(given_by="holder", name="Mme Durand"))
    return client, ins


async def test_w1_a_linked_message_is_attached_or_refused_and_the_sender_sees_which(
    people: Pair, admin: AdminClient, base_url: str, screenshots: Path
) -> None:
    web, gp, cardio, bruno = people.web, people.alice, people.bruno, people.sdk
    patient, ins = await holder(admin, base_url)
    async with patient:
        await patient.dossiers.set_medecin_traitant(ins, gp)

        # W-2: the médecin traitant writes; the message is delivered and attached.
        result = await web.send(
            [("Bruno", cardio)],
            "Lettre de sortie",
            LETTER,
            dossier={
                "ins": ins,
                "title": "Lettre de sortie du 12",
                "type": "lettre-de-liaison",
            },
        )
        attached = result.locator('[data-outcome="attached"]')
        await expect(attached).to_contain_text("Versé au DMP : document doc_")
        [documents] = [await patient.dossiers.documents(ins)]
        assert [(d.author, d.title) for d in documents] == [(gp, "Lettre de sortie du 12")]
        [message] = await received(bruno, ReceivedMessage)
        assert message.dossier is not None
        assert message.dossier.ins == ins
        assert message.body == LETTER
        await web.nav("Envoyés")
        await web.page.locator("#sent-list button", has_text="Lettre de sortie").click()
        reader = web.by_id("sent-reader")
        await expect(reader.locator('[data-outcome="attached"]')).to_be_visible()
        await expect(reader.locator("tr", has_text="Distribué le")).to_have_count(1)
        await web.screenshot(screenshots / "dossier-outcome.png")

        # W-1: a dossier that does not exist refuses the document; the message still goes. The
        # sender has no right on it, so it hears what it would hear of a real one (RD-12).
        unknown = new_ins(ADULT_BIRTH)
        result = await web.send(
            [("Bruno", cardio)],
            "Sans dossier",
            "Pour information.",
            dossier={"ins": unknown, "title": "Note"},
        )
        await expect(result.locator('[data-outcome="refused"]')).to_contain_text(
            "vous n'avez pas d'autorisation d'écriture sur ce dossier"
        )
        [message] = await received(bruno, ReceivedMessage)
        assert message.subject == "Sans dossier"

        # Both outcomes also come back as server-signed notifications, shown apart.
        notices = web.inbox_items("notice")
        await web.nav("Boîte de réception")
        await expect(notices).to_have_count(2)
        await expect(notices.filter(has_text="Document rattaché au DMP")).to_have_count(1)
        await expect(notices.filter(has_text="Rattachement au DMP refusé")).to_have_count(1)
        # The attachment's notification carries the log's signed checkpoint, checked here.
        await notices.filter(has_text="Document rattaché au DMP").get_by_role("button").click()
        await expect(web.by_id("reader").locator("[data-checkpoint]")).to_contain_text(
            "Point de contrôle du journal d'accès signé par le serveur"
        )

        # MS-2: once the holder bans the recipient, the whole message is refused.
        await patient.dossiers.ban(ins, cardio)
        result = await web.send(
            [("Bruno", cardio)],
            "Suite",
            "Suite du traitement.",
            dossier={"ins": ins, "title": "Suite"},
        )
        await expect(result.locator('[data-error="patient_opposed"]')).to_contain_text(
            "Le patient s'oppose"
        )
        assert await received(bruno, ReceivedMessage, count=0) == []


async def test_id1_an_ins_with_a_bad_key_is_refused_in_the_browser(
    people: Pair, screenshots: Path
) -> None:
    web, cardio, bruno = people.web, people.bruno, people.sdk
    ins = new_ins(ADULT_BIRTH)
    wrong = ins[:13] + f"{(int(ins[13:]) % 97) + 1:02d}"
    result = await web.send(
        [("Bruno", cardio)], "Lettre", LETTER, dossier={"ins": wrong, "title": "Lettre"}
    )
    await expect(result.locator('[data-error="ins_key"]')).to_be_visible()
    await expect(web.by_id("dossier-ins-error")).to_contain_text("La clé de l'INS")
    await web.screenshot(screenshots / "compose.png", full_page=True)
    assert await received(bruno, ReceivedMessage, count=0) == []
