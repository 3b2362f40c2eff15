"""Pure dossier decisions: creation, writing, reading, grants, bans, emergency, log, messaging."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, date, datetime, timedelta

import pytest

from dossier_link.consent import ConsentRecordInput, Regime, may_create
from dossier_link.majority import BirthDate, age_on
from dossier_link.policy import (
    Actor,
    Basis,
    Decision,
    DocumentState,
    DossierState,
    EmergencyAccess,
    Grant,
    GrantBasis,
    GrantLevel,
    ReasonCode,
    emergency_access,
    holder_release_at,
    log_visibility,
    may_ban,
    may_close,
    may_grant,
    may_hide_from_holder,
    may_link_message_to,
    may_list,
    may_manage,
    may_open_emergency,
    may_read_document,
    may_read_log,
    may_set_medecin_traitant,
    may_write,
    notify_after,
    visible_documents,
)
from messaging.representations import RepresentationKind

NOW = datetime(2025, 6, 1, 12, 0, tzinfo=UTC)
DAY = timedelta(days=1)
INS = "146026322000196"
HOLDER_ID = f"patient:{INS}"
REP_ID = "patient:253072A07300443"
OTHER_PATIENT_ID = "patient:253072B07300412"

MT_ID = "rpps:10000000001"
STANDARD_ID = "rpps:10000000002"
EXTENDED_ID = "rpps:10000000003"
CARE_ID = "rpps:10000000004"
EMERGENCY_ID = "rpps:10000000005"
STRANGER_ID = "rpps:10000000006"
AUTHOR_ID = "rpps:10000000007"
OCCUPATIONAL_ID = "rpps:10000000008"
FIRE_ID = "rpps:10000000010"
INSURER_ID = "rpps:10000000011"
SAMU_ID = "rpps:10000000012"
BANNED_ID = "rpps:10000000013"


def pro(principal: str, *roles: str) -> Actor:
    return Actor(principal, "professional", frozenset(roles))


HOLDER = Actor(HOLDER_ID, "patient")
REP = Actor(REP_ID, "patient")
OTHER_PATIENT = Actor(OTHER_PATIENT_ID, "patient")
MT = pro(MT_ID)
STANDARD = pro(STANDARD_ID)
EXTENDED = pro(EXTENDED_ID)
CARE = pro(CARE_ID)
EMERGENCY = pro(EMERGENCY_ID)
STRANGER = pro(STRANGER_ID)
AUTHOR = pro(AUTHOR_ID)
OCCUPATIONAL = pro(OCCUPATIONAL_ID, "occupational_physician")
FIRE = pro(FIRE_ID, "fire_brigade_physician")
INSURER = pro(INSURER_ID, "insurer")
SAMU = pro(SAMU_ID, "samu_regulator")
BANNED = pro(BANNED_ID)
ORG = Actor("org:clinique-du-parc", "organisation")
APP = Actor("app:lab-results", "application", on_behalf_of=MT_ID)


def _create(request_: ConsentRecordInput, caller: Actor, birth: date, regime: Regime) -> Decision:
    """``may_create`` with ``REP`` recorded as the kind of representative the consent names
    (the recording itself is tested over HTTP)."""
    kind = request_.given_by
    recorded: dict[str, RepresentationKind] = (
        {} if kind is None or kind == "holder" else {REP_ID: kind}
    )
    return may_create(request_, caller, BirthDate.of(birth), NOW, regime, recorded)


def ok(basis: Basis | None) -> Decision:
    return Decision(True, "ok", basis)


def no(code: ReasonCode) -> Decision:
    return Decision(False, code, None)


def grant(
    professional: str,
    level: GrantLevel = "standard",
    basis: GrantBasis = "consent",
    express: bool = True,
) -> Grant:
    return Grant(professional, level, basis, express)


def dossier(**changes: object) -> DossierState:
    """A typical open dossier; each test changes only what it is about."""
    base = DossierState(
        ins=INS,
        holder=HOLDER_ID,
        birth_date=date(1946, 2, 1),
        representatives=frozenset({REP_ID}),
        medecin_traitant=MT_ID,
        grants={
            STANDARD_ID: grant(STANDARD_ID),
            EXTENDED_ID: grant(EXTENDED_ID, level="extended"),
            CARE_ID: grant(CARE_ID, basis="care_team", express=False),
            INSURER_ID: grant(INSURER_ID),  # a snapshot that should never exist (RD-7)
        },
        bans=frozenset({BANNED_ID}),
        emergency_accesses={
            EMERGENCY_ID: EmergencyAccess(EMERGENCY_ID, NOW + timedelta(hours=1)),
        },
    )
    return replace(base, **changes)  # type: ignore[arg-type]


def doc(**changes: object) -> DocumentState:
    base = DocumentState(id="doc-1", author=AUTHOR_ID)
    return replace(base, **changes)  # type: ignore[arg-type]


PLAIN = doc()
MASKED = doc(masked=True)
HIDDEN = doc(hidden_from_holder_until=NOW + timedelta(days=1))
RELEASED = doc(hidden_from_holder_until=NOW)
INVISIBLE = doc(invisible_to_legal_representatives=True)


# --- creation and consent (CR-1..CR-5) --------------------------------------------------------

ADULT_BIRTH = date(1946, 2, 1)
MINOR_BIRTH = date(2010, 3, 4)


def consent(**fields: object) -> ConsentRecordInput:
    base = ConsentRecordInput(ins=INS, given_by="holder", name="Jeanne Martin")
    return replace(base, **fields)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("request_", "caller", "expected"),
    [
        (consent(), HOLDER, ok("holder")),  # CR-2: the holder consents personally
        (consent(), STANDARD, ok("holder")),  # CR-2: a professional collects it
        (
            consent(given_by="legal_representative", representative=REP_ID),
            REP,
            no("holder_must_consent"),
        ),  # CR-2
        (
            consent(given_by="protection_person", holder_opinion="agrees"),
            STANDARD,
            no("holder_must_consent"),
        ),  # CR-2: no protection measure declared
        (consent(representative=REP_ID), HOLDER, no("representative_not_allowed")),  # CR-2
    ],
)
def test_adult_consents_personally(
    request_: ConsentRecordInput, caller: Actor, expected: Decision
) -> None:
    """CR-2: an adult not under protection gives consent personally (given_by = holder)."""
    assert _create(request_, caller, ADULT_BIRTH, "express") == expected


@pytest.mark.parametrize(
    ("request_", "caller", "expected"),
    [
        (consent(), HOLDER, no("minor_needs_representative")),  # CR-3
        (consent(), STANDARD, no("minor_needs_representative")),  # CR-3
        (
            consent(given_by="legal_representative"),
            STANDARD,
            no("minor_needs_representative"),
        ),  # CR-3: representative not named
        (
            consent(given_by="legal_representative", representative=HOLDER_ID),
            STANDARD,
            no("minor_needs_representative"),
        ),  # CR-3: the minor is not their own representative
        (
            consent(given_by="legal_representative", representative=MT_ID),
            STANDARD,
            no("representative_not_allowed"),
        ),  # CR-3: a representative is a patient: principal
        (
            consent(given_by="legal_representative", representative=REP_ID),
            REP,
            ok("representative"),
        ),  # CR-3
        (
            consent(given_by="legal_representative", representative=REP_ID),
            STANDARD,
            ok("representative"),
        ),  # CR-3: collected by a professional
        (
            consent(given_by="legal_representative", representative=REP_ID),
            HOLDER,
            no("no_professional_capacity"),
        ),  # CR-3: the minor cannot record it for the parent
    ],
)
def test_minor_cannot_consent_alone(
    request_: ConsentRecordInput, caller: Actor, expected: Decision
) -> None:
    """CR-3: for a minor, the legal representative consents and is named."""
    assert _create(request_, caller, MINOR_BIRTH, "express") == expected


@pytest.mark.parametrize(
    ("birth_date", "expected"),
    [
        (date(2007, 6, 2), no("minor_needs_representative")),  # CR-3: 18 tomorrow
        (date(2007, 6, 1), ok("holder")),  # CR-3: 18 today
        (date(2008, 2, 29), no("minor_needs_representative")),  # CR-3
    ],
)
def test_majority_is_reached_on_the_eighteenth_birthday(
    birth_date: date, expected: Decision
) -> None:
    """CR-3: "under 18" is counted in whole years on now's date."""
    assert _create(consent(), HOLDER, birth_date, "express") == expected


def test_age_on_counts_whole_years() -> None:
    """CR-3: the age helper behind the minor rule."""
    assert age_on(date(2007, 6, 2), date(2025, 6, 1)) == 17
    assert age_on(date(2007, 6, 1), date(2025, 6, 1)) == 18
    assert age_on(date(2004, 2, 29), date(2022, 2, 28)) == 17
    assert age_on(date(2004, 2, 29), date(2022, 3, 1)) == 18


PROTECTED = {"protection": "representation"}


@pytest.mark.parametrize(
    ("request_", "caller", "expected"),
    [
        (
            consent(**PROTECTED, given_by="protection_person"),
            STANDARD,
            no("holder_opinion_required"),
        ),  # CR-4
        (
            consent(**PROTECTED, given_by="protection_person", holder_opinion="  "),
            STANDARD,
            no("holder_opinion_required"),
        ),  # CR-4: blank is no opinion
        (
            consent(**PROTECTED, given_by="protection_person", holder_opinion="agrees"),
            STANDARD,
            ok("representative"),
        ),  # CR-4
        (
            consent(
                **PROTECTED,
                given_by="protection_person",
                holder_opinion="agrees",
                representative=REP_ID,
            ),
            REP,
            ok("representative"),
        ),  # CR-4
        (
            consent(
                **PROTECTED,
                given_by="protection_person",
                holder_opinion="agrees",
                representative=HOLDER_ID,
            ),
            STANDARD,
            no("representative_not_allowed"),
        ),  # CR-4
        (consent(**PROTECTED), HOLDER, ok("holder")),  # CR-4: can express their will
        (
            consent(**PROTECTED, given_by="legal_representative", representative=REP_ID),
            REP,
            no("holder_must_consent"),
        ),  # CR-4: wrong capacity for an adult
    ],
)
def test_protected_adult_needs_holder_opinion(
    request_: ConsentRecordInput, caller: Actor, expected: Decision
) -> None:
    """CR-4: the protection person may consent; the holder's opinion is then required."""
    assert _create(request_, caller, ADULT_BIRTH, "express") == expected


@pytest.mark.parametrize(
    ("request_", "expected"),
    [
        (consent(given_by=None, name=None), no("consent_missing")),  # CR-1
        (consent(name=None), no("consent_missing")),  # CR-1: who gave it is recorded
        (consent(name=" "), no("consent_missing")),  # CR-1
    ],
)
def test_express_regime_needs_a_recorded_consent(
    request_: ConsentRecordInput, expected: Decision
) -> None:
    """CR-1: by default a dossier exists only once a consent, with its giver, is recorded."""
    assert _create(request_, STANDARD, ADULT_BIRTH, "express") == expected


def test_no_dossier_before_consent_means_no_write() -> None:
    """CR-1, W-1: without a dossier nothing is attached."""
    assert may_write(MT, None, NOW) == no("dossier_not_found")


@pytest.mark.parametrize(
    ("request_", "regime", "expected"),
    [
        (consent(given_by=None, name=None), "opt_out", no("operator_creates")),  # CR-9
        (consent(), "opt_out", no("operator_creates")),  # CR-9: even with a consent
        (consent(objection_registered=True), "express", no("objection_registered")),  # CR-5
        (
            consent(representative=REP_ID),
            "express",
            no("representative_not_allowed"),
        ),  # CR-2
    ],
)
def test_only_the_operator_creates_in_opt_out(
    request_: ConsentRecordInput, regime: Regime, expected: Decision
) -> None:
    """CR-5, CR-9: in opt-out only the operator creates; an objection blocks any creation."""
    assert _create(request_, STANDARD, ADULT_BIRTH, regime) == expected


def test_withdrawn_objection_allows_creation() -> None:
    """CR-5: once the objection is withdrawn, creation goes ahead."""
    objected = consent(objection_registered=True)
    withdrawn = replace(objected, objection_registered=False)
    assert _create(objected, HOLDER, ADULT_BIRTH, "express").code == "objection_registered"
    assert _create(withdrawn, HOLDER, ADULT_BIRTH, "express") == ok("holder")


@pytest.mark.parametrize(
    ("caller", "expected"),
    [
        (OTHER_PATIENT, no("representation_unverified")),  # CR-1: not the giver nor a collector
        (ORG, no("no_professional_capacity")),  # CR-1
        (APP, no("no_professional_capacity")),  # CR-1: on_behalf_of lends nothing
        (INSURER, no("insurer_excluded")),  # RD-7 / L1111-18
        (REP, no("representation_unverified")),  # CR-2: REP is not recorded for an adult
    ],
)
def test_only_giver_or_collecting_professional_creates(caller: Actor, expected: Decision) -> None:
    """CR-1: the caller is the consent's giver or the professional who collected it."""
    assert _create(consent(), caller, ADULT_BIRTH, "express") == expected


def test_objection_is_not_revealed_to_an_unrelated_caller() -> None:
    """CR-5: the caller is checked before the objection, which is the holder's business."""
    objected = consent(objection_registered=True)
    assert _create(objected, OTHER_PATIENT, ADULT_BIRTH, "express") == no(
        "representation_unverified"
    )


# --- writing (W-1..W-6) -----------------------------------------------------------------------

WRITE_MATRIX = [
    (HOLDER, ok("holder")),  # W-5
    (REP, ok("representative")),  # W-5: the representative exercises the holder's rights
    (MT, ok("medecin_traitant")),  # W-2
    (STANDARD, ok("grant")),  # W-2
    (EXTENDED, ok("extended")),  # W-2, RD-3
    (CARE, ok("care_team")),  # W-2, RD-1
    (EMERGENCY, ok("emergency")),  # W-2, EM-1
    (STRANGER, no("no_grant")),  # W-2
    (BANNED, no("banned")),  # W-3
    (INSURER, no("insurer_excluded")),  # W-6: even with a grant in the snapshot
    (ORG, no("no_professional_capacity")),  # W-6
    (APP, no("no_professional_capacity")),  # W-6
    (OTHER_PATIENT, no("representation_unverified")),  # W-6, DESIGN §4: a claim is not enough
    (OCCUPATIONAL, no("express_grant_required")),  # RD-6
    (FIRE, no("express_grant_required")),  # RD-6
]


@pytest.mark.parametrize(("actor", "expected"), WRITE_MATRIX)
def test_write_matrix(actor: Actor, expected: Decision) -> None:
    """W-2, W-3, W-5, W-6, RD-6: who may attach a document to an open dossier."""
    assert may_write(actor, dossier(), NOW) == expected


@pytest.mark.parametrize(("actor", "expected"), WRITE_MATRIX)
def test_list_matrix(actor: Actor, expected: Decision) -> None:
    """RD-1, RD-4, RD-6, RD-7: whoever may write may list, and no one else."""
    assert may_list(actor, dossier(), NOW) == expected


@pytest.mark.parametrize(
    ("state", "expected"),
    [
        (None, no("dossier_not_found")),  # W-1
        (dossier(status="closed"), no("dossier_closed")),  # W-1, CR-6
    ],
)
def test_write_needs_an_open_dossier(state: DossierState | None, expected: Decision) -> None:
    """W-1: no attachment without an existing, open dossier."""
    assert may_write(MT, state, NOW) == expected


def test_granted_professional_writes_again_without_new_consent() -> None:
    """W-4: later writes need only a notification of the holder, not new consent."""
    state = dossier()
    first = may_write(STANDARD, state, NOW)
    later = may_write(STANDARD, state, NOW + timedelta(days=400))
    assert first == later == ok("grant")
    assert notify_after(STANDARD, state, later) == frozenset({HOLDER_ID})


@pytest.mark.parametrize(
    ("actor", "state"),
    [
        (MT, dossier(bans=frozenset({MT_ID}))),  # RD-4: even the MT (a stale snapshot)
        (EXTENDED, dossier(bans=frozenset({EXTENDED_ID}))),  # RD-4
        (CARE, dossier(bans=frozenset({CARE_ID}))),  # RD-4
        (EMERGENCY, dossier(bans=frozenset({EMERGENCY_ID}))),  # RD-4: and emergency
    ],
)
def test_ban_overrides_every_basis_for_writing(actor: Actor, state: DossierState) -> None:
    """W-3, RD-4: a banned professional writes nothing, whatever else they hold."""
    assert may_write(actor, state, NOW) == no("banned")


@pytest.mark.parametrize(
    ("actor", "state", "expected"),
    [
        (
            OCCUPATIONAL,
            dossier(grants={OCCUPATIONAL_ID: grant(OCCUPATIONAL_ID)}),
            ok("grant"),
        ),  # RD-6: express consent grant
        (FIRE, dossier(grants={FIRE_ID: grant(FIRE_ID, level="extended")}), ok("extended")),  # RD-6
        (
            OCCUPATIONAL,
            dossier(grants={OCCUPATIONAL_ID: grant(OCCUPATIONAL_ID, express=False)}),
            no("express_grant_required"),
        ),  # RD-6: not express
        (
            FIRE,
            dossier(grants={FIRE_ID: grant(FIRE_ID, basis="care_team")}),
            no("express_grant_required"),
        ),  # RD-6: care team is deemed
        (
            OCCUPATIONAL,
            dossier(medecin_traitant=OCCUPATIONAL_ID),
            no("express_grant_required"),
        ),  # RD-6: MT status confers nothing
        (
            FIRE,
            dossier(emergency_accesses={FIRE_ID: EmergencyAccess(FIRE_ID, NOW + DAY)}),
            no("express_grant_required"),
        ),  # RD-6: nor an emergency
    ],
)
def test_occupational_and_fire_physicians_need_express_grant(
    actor: Actor, state: DossierState, expected: Decision
) -> None:
    """RD-6: occupational and fire-brigade physicians read and write only with an express grant."""
    assert may_write(actor, state, NOW) == expected
    assert may_read_document(actor, state, PLAIN, NOW) == expected


# --- emergency (EM-1, EM-2) -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("actor", "state", "expected"),
    [
        (STRANGER, dossier(), ok("emergency")),  # EM-1
        (SAMU, dossier(), ok("emergency")),  # EM-1: the SAMU regulator likewise
        (STRANGER, dossier(emergency_opposed=True), no("emergency_opposed")),  # EM-1
        (SAMU, dossier(emergency_opposed=True), no("emergency_opposed")),  # EM-1
        (INSURER, dossier(), no("insurer_excluded")),  # EM-1, RD-7
        (HOLDER, dossier(), no("no_professional_capacity")),  # EM-1: a professional opens it
        (ORG, dossier(), no("no_professional_capacity")),  # EM-1
        (OCCUPATIONAL, dossier(), no("emergency_not_allowed")),  # EM-1, RD-6
        (FIRE, dossier(), no("emergency_not_allowed")),  # EM-1, RD-6
        (BANNED, dossier(), no("banned")),  # EM-1, RD-4
        (STRANGER, None, no("dossier_not_found")),
        (STRANGER, dossier(status="closed"), no("dossier_closed")),  # CR-6
    ],
)
def test_open_emergency_matrix(
    actor: Actor, state: DossierState | None, expected: Decision
) -> None:
    """EM-1: a professional or the SAMU regulator opens emergency access unless opposed."""
    assert may_open_emergency(actor, state, NOW) == expected


def test_emergency_access_expires_after_its_duration() -> None:
    """EM-2: emergency access is time-limited, 24 h by default, end excluded."""
    access = emergency_access(STRANGER_ID, NOW)
    assert access == EmergencyAccess(STRANGER_ID, NOW + timedelta(hours=24))
    state = dossier(emergency_accesses={STRANGER_ID: access})
    just_before = access.expires_at - timedelta(microseconds=1)
    assert may_write(STRANGER, state, just_before) == ok("emergency")
    assert may_read_document(STRANGER, state, PLAIN, just_before) == ok("emergency")
    assert may_write(STRANGER, state, access.expires_at) == no("no_grant")
    assert may_read_document(STRANGER, state, PLAIN, access.expires_at) == no("no_grant")


def test_emergency_duration_is_a_setting() -> None:
    """EM-2: the duration is configurable but must be positive."""
    access = emergency_access(STRANGER_ID, NOW, timedelta(hours=2))
    assert access.expires_at == NOW + timedelta(hours=2)
    with pytest.raises(ValueError, match="positive"):
        emergency_access(STRANGER_ID, NOW, timedelta(0))


def test_opposition_ends_open_emergency_access() -> None:
    """EM-1: once the holder opposes, an access opened earlier no longer reads or writes."""
    state = dossier(emergency_opposed=True)
    assert may_write(EMERGENCY, state, NOW) == no("emergency_opposed")
    assert may_read_document(EMERGENCY, state, PLAIN, NOW) == no("emergency_opposed")


def test_emergency_notifies_holder_and_mt() -> None:
    """EM-3, TR-5: after an emergency access the holder and the MT are told."""
    state = dossier()
    decision = may_read_document(EMERGENCY, state, PLAIN, NOW)
    assert decision == ok("emergency")
    assert notify_after(EMERGENCY, state, decision) == frozenset({HOLDER_ID, MT_ID})


@pytest.mark.parametrize(
    ("actor", "decision", "expected"),
    [
        (MT, ok("medecin_traitant"), frozenset({HOLDER_ID})),  # TR-5
        (AUTHOR, ok("author"), frozenset({HOLDER_ID})),  # TR-5
        (HOLDER, ok("holder"), frozenset()),  # the holder is not told of their own reads
        (REP, ok("representative"), frozenset()),
        (STRANGER, no("no_grant"), frozenset()),  # nothing happened
        (MT, ok("emergency"), frozenset({HOLDER_ID})),  # EM-3: the MT is not told of itself
    ],
)
def test_notifications_follow_professional_access(
    actor: Actor, decision: Decision, expected: frozenset[str]
) -> None:
    """W-4, TR-5, EM-3: only allowed professional accesses notify, the holder only."""
    assert notify_after(actor, dossier(), decision) == expected


# --- reading (RD-1..RD-9, MK-1, MK-2, HD-1) ---------------------------------------------------


@pytest.mark.parametrize(
    ("actor", "document", "expected"),
    [
        (MT, MASKED, ok("medecin_traitant")),  # RD-2, MK-2
        (MT, PLAIN, ok("medecin_traitant")),  # RD-2
        (EXTENDED, MASKED, ok("extended")),  # RD-3, MK-2
        (STANDARD, PLAIN, ok("grant")),  # RD-1: consent basis
        (CARE, PLAIN, ok("care_team")),  # RD-1: care-team basis
        (STANDARD, MASKED, no("document_masked")),  # MK-1
        (CARE, MASKED, no("document_masked")),  # MK-1
        (EMERGENCY, MASKED, no("document_masked")),  # MK-1: emergency reads like standard
        (EMERGENCY, PLAIN, ok("emergency")),  # EM-1
        (STRANGER, PLAIN, no("no_grant")),  # RD-1: no prior consent
        (AUTHOR, MASKED, ok("author")),  # RD-5, MK-2: without any grant
        (AUTHOR, HIDDEN, ok("author")),  # RD-5
        (HOLDER, MASKED, ok("holder")),  # RD-8: masking hides from professionals only
        (HOLDER, INVISIBLE, ok("holder")),  # RD-8
        (HOLDER, HIDDEN, no("hidden_from_holder")),  # RD-8, HD-1
        (HOLDER, RELEASED, ok("holder")),  # HD-1: the release instant has come
        (REP, PLAIN, ok("representative")),  # RD-8
        (REP, MASKED, ok("representative")),  # RD-8
        (REP, INVISIBLE, no("document_not_found")),  # RD-8, RD-10: as if it did not exist
        (REP, HIDDEN, no("hidden_from_holder")),  # RD-8, HD-1
        (STANDARD, HIDDEN, ok("grant")),  # HD-1 hides from the holder only
        (INSURER, PLAIN, no("insurer_excluded")),  # RD-7: even with a grant in the snapshot
        (BANNED, PLAIN, no("banned")),  # RD-4
        (ORG, PLAIN, no("no_professional_capacity")),
        (OTHER_PATIENT, PLAIN, no("representation_unverified")),
    ],
)
def test_read_matrix(actor: Actor, document: DocumentState, expected: Decision) -> None:
    """RD-1..RD-8, MK-1, MK-2, HD-1: who reads which document."""
    assert may_read_document(actor, dossier(), document, NOW) == expected


@pytest.mark.parametrize(
    ("actor", "state"),
    [
        (MT, dossier(bans=frozenset({MT_ID}))),  # RD-4: over MT status
        (EXTENDED, dossier(bans=frozenset({EXTENDED_ID}))),  # RD-4: over an extended grant
        (EMERGENCY, dossier(bans=frozenset({EMERGENCY_ID}))),  # RD-4: over emergency
        (AUTHOR, dossier(bans=frozenset({AUTHOR_ID}))),  # RD-4, RD-5: over authorship
    ],
)
def test_ban_overrides_every_basis_for_reading(actor: Actor, state: DossierState) -> None:
    """RD-4: a banned professional reads nothing, not even their own document."""
    assert may_read_document(actor, state, MASKED, NOW) == no("banned")


def test_occupational_author_still_reads_own_document() -> None:
    """RD-5, RD-6: the author reads their document after their express grant is withdrawn."""
    own = doc(author=OCCUPATIONAL_ID)
    assert may_read_document(OCCUPATIONAL, dossier(), own, NOW) == ok("author")
    assert may_read_document(OCCUPATIONAL, dossier(), PLAIN, NOW) == no("express_grant_required")


def test_withdrawn_grant_takes_effect_at_once() -> None:
    """RD-9: the holder withdraws a grant; the next decision already refuses."""
    state = dossier()
    assert may_manage(HOLDER, state) == ok("holder")
    assert may_read_document(STANDARD, state, PLAIN, NOW) == ok("grant")
    withdrawn = replace(state, grants={k: v for k, v in state.grants.items() if k != STANDARD_ID})
    assert may_read_document(STANDARD, withdrawn, PLAIN, NOW) == no("no_grant")
    assert may_write(STANDARD, withdrawn, NOW) == no("no_grant")


@pytest.mark.parametrize(
    ("actor", "expected"),
    [
        (HOLDER, ok("holder")),  # MK-1, RD-9, TR-4
        (REP, ok("representative")),  # MK-1, RD-9, TR-4
        (MT, no("holder_only")),  # MK-1: not even the MT
        (EXTENDED, no("holder_only")),  # MK-1
        (ORG, no("holder_only")),
    ],
)
def test_only_holder_masks_and_manages_access(actor: Actor, expected: Decision) -> None:
    """MK-1, RD-9, TR-4: the holder (or a representative) masks, unmasks, withdraws, unbans."""
    assert may_manage(actor, dossier()) == expected


def test_unmasking_restores_standard_reading() -> None:
    """MK-1: masking and unmasking change what a standard grantee reads, at once."""
    state = dossier()
    assert may_read_document(STANDARD, state, MASKED, NOW) == no("document_masked")
    assert may_read_document(STANDARD, state, replace(MASKED, masked=False), NOW) == ok("grant")


def test_hidden_document_is_released_to_holder_after_a_month() -> None:
    """HD-1: a document hidden from the holder becomes visible after 30 days by default."""
    created = NOW
    release = holder_release_at(created)
    assert release == created + timedelta(days=30)
    hidden = doc(hidden_from_holder_until=release)
    state = dossier()
    assert may_read_document(HOLDER, state, hidden, created + timedelta(days=29)) == no(
        "hidden_from_holder"
    )
    assert may_read_document(HOLDER, state, hidden, created + timedelta(days=30)) == ok("holder")


def test_hide_release_is_a_setting() -> None:
    """HD-1: the release delay is configurable."""
    assert holder_release_at(NOW, timedelta(days=7)) == NOW + timedelta(days=7)


@pytest.mark.parametrize(
    ("actor", "expected"),
    [
        (AUTHOR, ok("author")),  # HD-1: the author professional hides or unhides
        (MT, no("not_author")),  # HD-1
        (HOLDER, no("no_professional_capacity")),  # HD-1: a professional hides
        (INSURER, no("no_professional_capacity")),
    ],
)
def test_only_author_hides_from_holder(actor: Actor, expected: Decision) -> None:
    """HD-1: only the professional who wrote the document hides it from the holder."""
    assert may_hide_from_holder(actor, dossier(), PLAIN, NOW) == expected


def test_banned_author_cannot_hide() -> None:
    """HD-1, RD-4: a ban also stops the author from changing the document."""
    state = dossier(bans=frozenset({AUTHOR_ID}))
    assert may_hide_from_holder(AUTHOR, state, PLAIN, NOW) == no("banned")


def test_visible_documents_filters_the_list() -> None:
    """RD-1, MK-1, RD-8: a list shows each caller only what they may read."""
    documents = [PLAIN, MASKED, HIDDEN, INVISIBLE]
    state = dossier()
    assert visible_documents(STANDARD, state, documents, NOW) == [PLAIN, HIDDEN, INVISIBLE]
    assert visible_documents(REP, state, documents, NOW) == [PLAIN, MASKED]
    assert visible_documents(MT, state, documents, NOW) == documents
    assert visible_documents(STRANGER, state, documents, NOW) == []


# --- grants and bans (RD-3, RD-4, RD-6, RD-7) -------------------------------------------------


@pytest.mark.parametrize(
    ("actor", "grantee", "basis", "expected"),
    [
        (HOLDER, STRANGER, "consent", ok("holder")),  # RD-1
        (HOLDER, STRANGER, "care_team", ok("holder")),  # RD-1: care-team basis
        (REP, STRANGER, "consent", ok("representative")),  # RD-1
        (MT, STRANGER, "consent", no("holder_only")),  # RD-1: the holder's consent
        (EXTENDED, STRANGER, "consent", no("holder_only")),  # RD-3: MT-level is not holder-level
        (HOLDER, INSURER, "consent", no("insurer_cannot_be_granted")),  # RD-7
        (REP, INSURER, "consent", no("insurer_cannot_be_granted")),  # RD-7
        (HOLDER, ORG, "consent", no("no_professional_capacity")),
        (HOLDER, OTHER_PATIENT, "consent", no("no_professional_capacity")),
        (HOLDER, OCCUPATIONAL, "consent", ok("holder")),  # RD-6: an express grant
        (HOLDER, OCCUPATIONAL, "care_team", no("express_grant_required")),  # RD-6
        (HOLDER, FIRE, "care_team", no("express_grant_required")),  # RD-6
        (HOLDER, BANNED, "consent", no("banned")),  # RD-4: lift the ban first
    ],
)
def test_grant_matrix(actor: Actor, grantee: Actor, basis: GrantBasis, expected: Decision) -> None:
    """RD-1, RD-3, RD-6, RD-7: only the holder grants, never to an insurer."""
    assert may_grant(actor, dossier(), grantee, basis) == expected


@pytest.mark.parametrize(
    ("actor", "professional", "expected"),
    [
        (HOLDER, STRANGER_ID, ok("holder")),  # RD-4
        (REP, STANDARD_ID, ok("representative")),  # RD-4
        (HOLDER, MT_ID, no("cannot_ban_medecin_traitant")),  # RD-4
        (REP, MT_ID, no("cannot_ban_medecin_traitant")),  # RD-4
        (MT, STRANGER_ID, no("holder_only")),  # RD-4
        (HOLDER, REP_ID, no("no_professional_capacity")),  # bans target professionals
        (HOLDER, HOLDER_ID, no("no_professional_capacity")),
    ],
)
def test_ban_matrix(actor: Actor, professional: str, expected: Decision) -> None:
    """RD-4: the holder bans professionals, but not the current MT."""
    assert may_ban(actor, dossier(), professional) == expected


def test_holder_changes_mt_before_banning_them() -> None:
    """RD-4: once another MT is declared, the former one can be banned."""
    state = dossier()
    assert may_ban(HOLDER, state, MT_ID) == no("cannot_ban_medecin_traitant")
    assert may_set_medecin_traitant(HOLDER, state, STANDARD) == ok("holder")
    changed = replace(state, medecin_traitant=STANDARD_ID)
    assert may_ban(HOLDER, changed, MT_ID) == ok("holder")
    assert may_write(MT, replace(changed, bans=changed.bans | {MT_ID}), NOW) == no("banned")


@pytest.mark.parametrize(
    ("actor", "professional", "expected"),
    [
        (HOLDER, STRANGER, ok("holder")),  # RD-2
        (MT, STRANGER, no("holder_only")),
        (HOLDER, BANNED, no("banned")),  # RD-4
        (HOLDER, INSURER, no("insurer_excluded")),  # RD-7
        (HOLDER, ORG, no("no_professional_capacity")),
        (HOLDER, OCCUPATIONAL, no("express_grant_required")),  # RD-6
    ],
)
def test_set_medecin_traitant_matrix(actor: Actor, professional: Actor, expected: Decision) -> None:
    """RD-2, RD-4, RD-6, RD-7: the holder declares a professional as MT."""
    assert may_set_medecin_traitant(actor, dossier(), professional) == expected


# --- traces (TR-3) ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("actor", "expected", "visibility"),
    [
        (HOLDER, ok("holder"), "all"),  # TR-3
        (REP, ok("representative"), "all"),  # TR-3: exercises the holder's rights
        (MT, ok("medecin_traitant"), "all"),  # TR-3
        (EXTENDED, ok("extended"), "all"),  # TR-3
        (STANDARD, ok("author"), "own"),  # TR-3
        (CARE, ok("author"), "own"),  # TR-3
        (EMERGENCY, ok("author"), "own"),  # TR-3
        (AUTHOR, ok("author"), "own"),  # TR-3: entries of their own actions
        (OCCUPATIONAL, ok("author"), "own"),  # TR-3
        (BANNED, no("banned"), "none"),  # RD-4
        (INSURER, no("insurer_excluded"), "none"),  # RD-7
        (ORG, no("no_professional_capacity"), "none"),
        (OTHER_PATIENT, no("representation_unverified"), "none"),
    ],
)
def test_log_visibility_matrix(actor: Actor, expected: Decision, visibility: str) -> None:
    """TR-3: holder, MT and extended grantees read the whole log; authors their own entries."""
    state = dossier()
    assert may_read_log(actor, state) == expected
    assert log_visibility(actor, state) == visibility


def test_occupational_extended_express_grant_reads_whole_log() -> None:
    """TR-3, RD-6: an express extended grant counts as extended for the log too."""
    state = dossier(grants={OCCUPATIONAL_ID: grant(OCCUPATIONAL_ID, level="extended")})
    assert log_visibility(OCCUPATIONAL, state) == "all"
    non_express = grant(OCCUPATIONAL_ID, level="extended", express=False)
    assert log_visibility(OCCUPATIONAL, dossier(grants={OCCUPATIONAL_ID: non_express})) == "own"


# --- messaging (MS-2) -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("recipient", "state", "expected"),
    [
        (BANNED_ID, dossier(), no("patient_opposed")),  # MS-2
        (STRANGER_ID, dossier(), ok(None)),  # MS-2: no objection to that recipient
        (MT_ID, dossier(), ok(None)),  # MS-2
        (BANNED_ID, dossier(status="closed"), no("patient_opposed")),  # MS-3: closed included
        (STRANGER_ID, dossier(status="closed"), ok(None)),  # MS-3: W-1 refuses the attachment
        (STRANGER_ID, None, no("dossier_not_found")),  # W-1
    ],
)
def test_link_refused_to_banned_recipient(
    recipient: str, state: DossierState | None, expected: Decision
) -> None:
    """MS-2: a dossier-linked message to a professional the holder banned is refused."""
    assert may_link_message_to(recipient, state) == expected


# --- closing (CR-6) ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("actor", "expected"),
    [
        (HOLDER, ok("holder")),  # CR-6
        (REP, ok("representative")),  # CR-6
        (MT, no("holder_only")),  # CR-6
        (EXTENDED, no("holder_only")),  # CR-6
    ],
)
def test_holder_or_representative_closes(actor: Actor, expected: Decision) -> None:
    """CR-6: the holder or a representative may close the dossier."""
    assert may_close(actor, dossier()) == expected


@pytest.mark.parametrize("actor", [HOLDER, REP, MT, EXTENDED, AUTHOR, EMERGENCY, SAMU])
def test_closed_dossier_refuses_everything(actor: Actor) -> None:
    """CR-6: after closure no one reads, writes, lists, grants, bans or opens an emergency;
    RD-12: whoever had no right gets the refusal of the open dossier, not ``dossier_closed``."""
    opened, closed = dossier(), dossier(status="closed")

    def decisions(state: DossierState) -> list[Decision]:
        return [
            may_write(actor, state, NOW),
            may_list(actor, state, NOW),
            may_read_document(actor, state, PLAIN, NOW),
            may_read_document(actor, state, doc(author=actor.principal), NOW),
            may_read_log(actor, state),
            may_manage(actor, state),
            may_close(actor, state),
            may_grant(actor, state, STRANGER),
            may_ban(actor, state, STRANGER_ID),
            may_set_medecin_traitant(actor, state, STRANGER),
            may_open_emergency(actor, state, NOW),
            may_hide_from_holder(actor, state, doc(author=actor.principal), NOW),
        ]

    expected = [d if not d.allowed else no("dossier_closed") for d in decisions(opened)]
    assert decisions(closed) == expected
    assert no("dossier_closed") in expected
    assert log_visibility(actor, closed) == "none"
    assert visible_documents(actor, closed, [PLAIN], NOW) == []


# --- snapshots --------------------------------------------------------------------------------


def test_decision_constructors() -> None:
    """Allowed decisions carry code ok and a basis; refusals carry a code and no basis."""
    assert Decision.allow("holder") == Decision(True, "ok", "holder")
    assert Decision.deny("banned") == Decision(False, "banned", None)


@pytest.mark.parametrize(
    "changes",
    [
        {"holder": OTHER_PATIENT_ID},
        {"grants": {STRANGER_ID: grant(STANDARD_ID)}},
        {"emergency_accesses": {STRANGER_ID: EmergencyAccess(MT_ID, NOW)}},
    ],
)
def test_inconsistent_snapshot_is_rejected(changes: dict[str, object]) -> None:
    """A snapshot whose keys disagree with its contents would grant the wrong principal."""
    with pytest.raises(ValueError, match="must be"):
        dossier(**changes)
