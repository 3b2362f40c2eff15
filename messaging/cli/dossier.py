"""The ``dossier`` commands (DESIGN §4, Dossier) and ``admin dossier create``.

Every check is the SDK's: a document is printed only once its author's signature verified and it
decrypted, and an access log is verified here, never on the server's word.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, TypeVar, get_args

from dossier_link.consent import ConsentGiver
from dossier_link.models import DocumentSummary, DossierSummary
from dossier_link.policy import GrantBasis, GrantLevel, Protection
from messaging import client
from messaging.cli import _common as common
from messaging.cli import attachments
from messaging.cli.verify_log import checkpoint_line, verdict_line

T = TypeVar("T")


def _holder(args: argparse.Namespace, principal: str) -> str:
    """The INS acted on. A patient acts on their own dossier by default; acting for someone
    they represent is said out loud with ``--for INS`` (DESIGN §4)."""
    given, acting_for = args.ins, args.for_ins
    own = principal.removeprefix("patient:") if principal.startswith("patient:") else None
    if given is not None and acting_for is not None:
        raise client.SdkError("usage", "give the INS or --for INS, not both")
    if acting_for is not None:
        return str(acting_for)
    if given is not None:
        if own is not None and given != own:
            raise client.SdkError("usage", f"{given} is not your INS: use --for {given}")
        return str(given)
    if own is None:
        raise client.SdkError("usage", "give the holder's INS")
    return own


def _call(args: argparse.Namespace, call: Callable[[client.DossierClient], Awaitable[T]]) -> T:
    device = common.device(args)
    args.ins = common.checked_ins(_holder(args, device.identity.principal))
    if getattr(args, "professional", None) is not None:
        common.checked_principal(args.professional)

    async def run() -> T:
        async with device:
            return await call(device.dossiers)

    return asyncio.run(run())


# --- output -----------------------------------------------------------------------------------


def _show_summary(args: argparse.Namespace, summary: DossierSummary, headline: str = "") -> int:
    if args.json:
        common.print_json(summary.model_dump())
        return 0
    if headline:
        print(headline)
    rows = [
        ("dossier", summary.ins),
        ("holder", summary.holder),
        ("status", summary.status + (f" since {summary.closed_at}" if summary.closed_at else "")),
        ("médecin traitant", summary.medecin_traitant or "-"),
        ("your access", summary.your_basis or "-"),
        ("created", summary.created_at),
    ]
    if summary.consent is not None:
        consent = summary.consent
        given = f"{consent.get('given_by') or '-'} {consent.get('name') or ''}".rstrip()
        rows.append(("consent", f"{given} ({consent.get('regime', '?')})"))
    if summary.emergency_opposed is not None:
        rows.append(("emergency", "opposed" if summary.emergency_opposed else "allowed"))
    rows += [("grant", f"{g.professional} {g.level} ({g.basis})") for g in summary.grants or []]
    rows += [("banned", professional) for professional in summary.bans or []]
    rows += [  # TR-4, EM-4: each open emergency access, with the id that ends it
        ("emergency access", f"{e.id} {e.professional} until {e.expires_at}: {e.reason}")
        for e in summary.emergencies or []
    ]
    if summary.consent is not None and summary.consent.get("collected_by"):
        rows.append(("collected by", str(summary.consent["collected_by"])))
    print(common.fields(rows))
    return 0


def _flags(document: DocumentSummary) -> str:
    flags = ["masked"] if document.masked else []
    if document.hidden_from_holder_until:
        flags.append(f"hidden until {document.hidden_from_holder_until}")
    if document.invisible_to_legal_representatives:
        flags.append("invisible to representatives")
    return ", ".join(flags)


def _describe_document(read: client.DossierDocument) -> str:
    content = read.content
    rows = [
        ("document", f"{read.document.id}  {read.created_at}"),
        ("dossier", f"{read.header.ins} {read.header.type}: {read.header.title}"),
        ("author", f"{read.document.author} ({read.sender_device})"),
        ("to", ", ".join(read.recipients)),
        ("subject", content.subject),
    ]
    if _flags(read.document):
        rows.append(("flags", _flags(read.document)))
    if content.in_reply_to:
        rows.append(("reply to", content.in_reply_to))
    rows += [
        ("attached", f"{a.name} ({a.media_type}, {len(a.data)} bytes)") for a in content.attachments
    ]
    return f"{common.fields(rows)}\n\n{common.block(content.body)}\n"


# --- commands ---------------------------------------------------------------------------------


def _create(args: argparse.Namespace) -> int:
    consent: dict[str, Any] = {"given_by": args.given_by, "name": args.consent_name}
    if args.representative is not None:
        consent["representative"] = args.representative
    if args.holder_opinion is not None:
        consent["holder_opinion"] = args.holder_opinion
    summary = _call(
        args, lambda d: d.create(args.ins, args.birth_date, consent, protection=args.protection)
    )
    return _show_summary(args, summary, f"created the dossier of {summary.ins}")


def _admin_create(args: argparse.Namespace) -> int:
    common.checked_ins(args.ins)

    async def create() -> DossierSummary:
        async with common.admin(args) as admin:
            return await admin.create_dossier(args.ins, args.birth_date, args.protection)

    summary = asyncio.run(create())
    return _show_summary(args, summary, f"created the dossier of {summary.ins} (opt-out)")


def _show(args: argparse.Namespace) -> int:
    return _show_summary(args, _call(args, lambda d: d.summary(args.ins)))


def _medecin_traitant(args: argparse.Namespace) -> int:
    summary = _call(args, lambda d: d.set_medecin_traitant(args.ins, args.professional))
    return _show_summary(args, summary, f"{args.professional} is médecin traitant of {args.ins}")


def _grant(args: argparse.Namespace) -> int:
    summary = _call(
        args,
        lambda d: d.grant(args.ins, args.professional, level=args.level, basis=args.basis),
    )
    headline = f"granted {args.professional} {args.level} access ({args.basis}) to {args.ins}"
    return _show_summary(args, summary, headline)


def _revoke(args: argparse.Namespace) -> int:
    _call(args, lambda d: d.withdraw_grant(args.ins, args.professional))
    message = f"withdrew the grant of {args.professional} on {args.ins}"
    return common.done(args, message, {"ins": args.ins, "withdrawn": args.professional})


def _ban(args: argparse.Namespace) -> int:
    summary = _call(args, lambda d: d.ban(args.ins, args.professional))
    return _show_summary(args, summary, f"banned {args.professional} from {args.ins}")


def _unban(args: argparse.Namespace) -> int:
    _call(args, lambda d: d.lift_ban(args.ins, args.professional))
    message = f"lifted the ban of {args.professional} on {args.ins}"
    return common.done(args, message, {"ins": args.ins, "unbanned": args.professional})


def _oppose_emergency(args: argparse.Namespace) -> int:
    opposed = not args.withdraw
    summary = _call(args, lambda d: d.set_emergency_opposition(args.ins, opposed))
    headline = f"emergency access to {args.ins} {'opposed' if opposed else 'allowed again'}"
    return _show_summary(args, summary, headline)


def _emergency(args: argparse.Namespace) -> int:
    access = _call(args, lambda d: d.emergency_access(args.ins, args.reason))
    message = f"emergency access to {args.ins} open until {access.expires_at}"
    return common.done(args, message, access.model_dump())


def _end_emergency(args: argparse.Namespace) -> int:
    summary = _call(args, lambda d: d.end_emergency(args.ins, args.emergency))
    return _show_summary(args, summary, f"ended emergency access {args.emergency}")


def _documents(args: argparse.Namespace) -> int:
    documents = _call(args, lambda d: d.documents(args.ins))
    if args.json:
        common.print_json({"documents": [d.model_dump() for d in documents]})
    elif not documents:
        print("no documents you may read")
    else:
        rows = [(d.id, d.type, d.title, d.author, d.created_at, _flags(d)) for d in documents]
        print(common.table(("DOCUMENT", "TYPE", "TITLE", "AUTHOR", "CREATED", "FLAGS"), rows))
    return 0


def _read(args: argparse.Namespace) -> int:
    device = common.device(args)
    args.ins = _holder(args, device.identity.principal)

    async def run() -> tuple[client.DossierDocument, list[Path]]:
        async with device:
            read = await device.dossiers.read_document(args.ins, args.document)
            if not args.save_attachments:
                return read, []
            content = read.content
            saved = common.save_attachments(content.attachments, args.save_attachments)
            return read, saved + await attachments.download(
                device, content.blobs, args.save_attachments
            )

    read, saved = asyncio.run(run())
    if args.json:
        common.print_json({**read.as_dict(), "saved": [str(path) for path in saved]})
    else:
        print(_describe_document(read))
        for path in saved:
            print(f"saved {path}")
    return 0


def _patch(args: argparse.Namespace) -> int:
    if args.command_name == "mask":
        change = {"masked": not args.unmask}
        message = f"{'unmasked' if args.unmask else 'masked'} {args.document}"
    else:
        change = {"hidden_from_holder": not args.show}
        message = f"{'showed' if args.show else 'hid'} {args.document} to the holder"
    _call(args, lambda d: d.patch_document(args.ins, args.document, **change))
    return common.done(args, message, {"ins": args.ins, "document": args.document, **change})


def _log(args: argparse.Namespace) -> int:
    log = _call(args, lambda d: d.access_log(args.ins))
    if args.json:
        common.print_json(log.as_dict())
    else:
        rows = [
            (
                str(e.get("seq", "?")),
                str(e.get("at", "")),
                str(e.get("actor", "")),
                str(e.get("action", "")),
                str(e.get("outcome", "")),
                str(e.get("target") or e.get("document") or ""),
            )
            for e in log.entries
        ]
        print(common.table(("SEQ", "AT", "ACTOR", "ACTION", "OUTCOME", "ON"), rows))
        print(verdict_line(log.check, log.failure, log.scope))
        if log.ok:
            print(checkpoint_line(log.checkpoint, kept=None))
    if log.server_chain_ok is not None and log.server_chain_ok != log.ok:
        print(
            f"warning: the server claimed chain_ok={str(log.server_chain_ok).lower()}",
            file=sys.stderr,
        )
    return 0 if log.ok else 1


def _close(args: argparse.Namespace) -> int:
    summary = _call(args, lambda d: d.close(args.ins, deletion_requested=args.delete))
    return _show_summary(args, summary, f"closed the dossier of {args.ins}")


def _object(args: argparse.Namespace) -> int:
    objected = not args.withdraw
    _call(args, lambda d: d.set_objection(args.ins, objected))
    message = f"objection to a dossier for {args.ins} {'registered' if objected else 'withdrawn'}"
    return common.done(args, message, {"ins": args.ins, "objected": objected})


# --- parser -----------------------------------------------------------------------------------


def register(commands: common.Subcommands, admin_commands: common.Subcommands) -> None:
    group = common.command(commands, "dossier", "the patient's shared medical record (DMP)")
    dossier = group.add_subparsers(dest="dossier_command", metavar="COMMAND", required=True)

    def add(
        name: str, help_text: str, run: common.Command, *, document: bool = False
    ) -> argparse.ArgumentParser:
        parser = common.command(dossier, name, help_text, run)
        parser.add_argument(
            "ins", metavar="INS", nargs="?", help="the holder's INS (a patient: their own)"
        )
        parser.add_argument(
            "--for", dest="for_ins", metavar="INS", help="act for a holder you represent"
        )
        if document:
            parser.add_argument("document", metavar="DOC", help="document id")
        parser.set_defaults(command_name=name)
        return parser

    create = add("create", "create a dossier on recorded consent", _create)
    create.add_argument(
        "--birth-date", metavar="YYYY-MM-DD", help="attested by a professional (ID-4)"
    )
    create.add_argument("--given-by", required=True, choices=get_args(ConsentGiver))
    create.add_argument("--consent-name", required=True, help="who consented")
    create.add_argument("--representative", metavar="PRINCIPAL", help="their patient: principal")
    create.add_argument("--holder-opinion", metavar="TEXT", help="the holder's opinion (CR-4)")
    create.add_argument("--protection", choices=get_args(Protection))

    add("show", "show the dossier as you may see it", _show)
    for name, help_text, run in [
        ("mt", "declare the médecin traitant", _medecin_traitant),
        ("grant", "grant a professional access", _grant),
        ("revoke", "withdraw a professional's grant", _revoke),
        ("ban", "ban a professional", _ban),
        ("unban", "lift a professional's ban", _unban),
    ]:
        parser = add(name, help_text, run)
        parser.add_argument("professional", metavar="PROFESSIONAL", help="rpps:<11 digits>")
        if name == "grant":
            parser.add_argument("--level", default="standard", choices=get_args(GrantLevel))
            parser.add_argument("--basis", default="consent", choices=get_args(GrantBasis))

    oppose = add("oppose-emergency", "oppose emergency access", _oppose_emergency)
    oppose.add_argument("--withdraw", action="store_true", help="stop opposing")
    emergency = add("emergency", "open time-limited emergency access", _emergency)
    emergency.add_argument("--reason", required=True, metavar="TEXT")
    end = add("end-emergency", "end an open emergency access (EM-4)", _end_emergency)
    end.add_argument("emergency", metavar="ID", help="the access's id (dossier show)")

    add("documents", "list the documents you may read", _documents)
    read = add("read", "read, verify and decrypt a document", _read, document=True)
    read.add_argument(
        "--save-attachments",
        metavar="DIR",
        help="write attachments into DIR (large ones downloaded and checked first)",
    )
    add("mask", "mask a document", _patch, document=True).add_argument(
        "--unmask", action="store_true", help="unmask it"
    )
    add("hide", "hide a document from the holder", _patch, document=True).add_argument(
        "--show", action="store_true", help="show it to the holder again"
    )
    add("log", "show and verify the access log (exit 1 if broken)", _log)
    close = add("close", "close the dossier", _close)
    close.add_argument("--delete", action="store_true", help="ask for deletion")
    objection = add("object", "object to a dossier being created (opt-out)", _object)
    objection.add_argument("--withdraw", action="store_true", help="withdraw the objection")

    admin_dossier = common.command(admin_commands, "dossier", "manage dossiers (opt-out regime)")
    admin_dossier_commands = admin_dossier.add_subparsers(
        dest="admin_dossier_command", metavar="COMMAND", required=True
    )
    operator_create = common.command(
        admin_dossier_commands, "create", "create a dossier without consent record", _admin_create
    )
    operator_create.add_argument("ins", metavar="INS")
    operator_create.add_argument(
        "--birth-date", metavar="YYYY-MM-DD", help="when the patient's is not recorded"
    )
    operator_create.add_argument("--protection", choices=get_args(Protection))
