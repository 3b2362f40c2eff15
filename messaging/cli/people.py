"""Principals, devices and the directory: ``admin principal add|list``, ``admin enroll-code``,
``directory search``, ``devices [list|link|revoke]``."""

from __future__ import annotations

import argparse
import asyncio
from typing import get_args

from messaging import client, models
from messaging.cli import _common as common


def _summaries(principals: list[models.PrincipalSummary]) -> str:
    rows = [(p.id, p.kind, p.display_name, p.profession or "-") for p in principals]
    return common.table(("PRINCIPAL", "KIND", "NAME", "PROFESSION"), rows)


# --- operator ---------------------------------------------------------------------------------


def _principal_add(args: argparse.Namespace) -> int:
    common.checked_principal(args.id)
    for member in args.member:
        common.checked_principal(member)

    async def create() -> models.CreatedPrincipal:
        async with common.admin(args) as admin:
            return await admin.create_principal(
                args.id,
                args.kind,
                args.name,
                profession=args.profession,
                roles=args.role,
                members=args.member or None,
                birth_date=args.birth_date,
                allow_similar_name=args.allow_similar_name,
            )

    created = asyncio.run(create())
    for warning in created.warnings:
        common.warn(warning)
    if args.json:
        common.print_json(created.model_dump())
    else:
        print(common.line(f"created {created.id} ({created.kind}) {created.display_name}"))
    return 0


def _principal_list(args: argparse.Namespace) -> int:
    async def listing() -> models.PrincipalList:
        async with common.admin(args) as admin:
            return await admin.list_principals(kind=args.kind, after=args.after, limit=args.limit)

    page = asyncio.run(listing())
    if args.json:
        common.print_json(page.model_dump())
        return 0
    print(_summaries(page.principals) if page.principals else "no principals")
    if page.next is not None:
        print(f"-- more: add --after {page.next} --")
    return 0


def _enroll_code(args: argparse.Namespace) -> int:
    common.checked_principal(args.principal)

    async def issue() -> models.EnrollmentCodeResponse:
        async with common.admin(args) as admin:
            return await admin.enrollment_code(args.principal)

    _show_code(args, asyncio.run(issue()), args.principal)
    return 0


def _show_code(args: argparse.Namespace, code: models.EnrollmentCodeResponse, who: str) -> None:
    if args.json:
        common.print_json({**code.model_dump(), "principal": who})
        return
    print(common.fields([("code", code.code), ("expires", code.expires_at)]))
    print(
        f"on the new device: liaison enroll --principal {who} --code {code.code}"
        " --name NAME [--key-file PATH]"
    )


# --- a device ---------------------------------------------------------------------------------


def _search(args: argparse.Namespace) -> int:
    device = common.device(args)

    async def search() -> list[models.PrincipalSummary]:
        async with device:
            return await device.search(
                " ".join(args.words), profession=args.profession, limit=args.limit
            )

    found = asyncio.run(search())
    if args.json:
        common.print_json({"principals": [p.model_dump() for p in found]})
    else:
        print(_summaries(found) if found else "nobody found")
    return 0


def _devices(args: argparse.Namespace) -> int:
    device = common.device(args)

    async def listing() -> list[models.OwnDevice]:
        async with device:
            return await device.list_devices()

    devices = asyncio.run(listing())
    current = device.identity.device_id
    if args.json:
        common.print_json({"devices": [d.model_dump() for d in devices], "current": current})
    else:
        rows: list[tuple[str, ...]] = [
            (d.id + (" *" if d.id == current else ""), d.name, d.created_at) for d in devices
        ]
        print(common.table(("DEVICE", "NAME", "ENROLLED"), rows))
    return 0


def _link(args: argparse.Namespace) -> int:
    device = common.device(args)

    async def issue() -> models.EnrollmentCodeResponse:
        async with device:
            return await device.link_code()

    _show_code(args, asyncio.run(issue()), device.identity.principal)
    return 0


def _revoke(args: argparse.Namespace) -> int:
    device = common.device(args)
    if args.device == device.identity.device_id and not args.this_device:
        raise client.SdkError(
            "usage", "that is this device: add --this-device to revoke it (its key file dies)"
        )

    async def revoke() -> None:
        async with device:
            await device.revoke_device(args.device)

    asyncio.run(revoke())
    message = f"revoked {args.device}: its tokens and queue are gone"
    return common.done(args, message, {"revoked": args.device})


# --- parser -----------------------------------------------------------------------------------


def register(commands: common.Subcommands, admin_commands: common.Subcommands) -> None:
    principal = common.command(admin_commands, "principal", "manage principals")
    principal_commands = principal.add_subparsers(
        dest="principal_command", metavar="COMMAND", required=True
    )
    add = common.command(principal_commands, "add", "register a principal", _principal_add)
    add.add_argument("id", help="rpps:<11 digits>, org:<slug>, app:<slug> or patient:<INS>")
    add.add_argument("--kind", required=True, choices=get_args(models.PrincipalKind))
    add.add_argument("--name", required=True, help="display name")
    add.add_argument("--profession")
    add.add_argument("--role", action="append", default=[], choices=get_args(models.Role))
    add.add_argument("--member", action="append", default=[], help="organisation member")
    add.add_argument(
        "--birth-date", metavar="YYYY-MM-DD", help="a patient's verified birth date (ID-4)"
    )
    add.add_argument(
        "--allow-similar-name",
        action="store_true",
        help="register it although its name looks like another principal's (a homonym)",
    )
    listing = common.command(
        principal_commands,
        "list",
        "list professionals, organisations and applications in id order (patients are not"
        " indexed: look one up by INS)",
        _principal_list,
    )
    listing.add_argument("--kind", choices=get_args(models.ListedKind))
    listing.add_argument("--after", metavar="PRINCIPAL", help="the page after this id")
    listing.add_argument("--limit", type=int, default=100, help="at most this many (1-500)")
    code = common.command(
        admin_commands, "enroll-code", "issue a one-time enrollment code", _enroll_code
    )
    code.add_argument("principal")

    directory = common.command(commands, "directory", "the directory (annuaire)")
    directory_commands = directory.add_subparsers(
        dest="directory_command", metavar="COMMAND", required=True
    )
    search = common.command(
        directory_commands,
        "search",
        "find professionals, organisations and applications by name or id",
        _search,
    )
    search.add_argument("words", nargs="*", metavar="WORD", help="each must start a name word")
    search.add_argument("--profession", help="only this profession")
    search.add_argument("--limit", type=int, default=20, help="at most this many (1-100)")

    devices = common.command(
        commands, "devices", "this principal's devices: list (default), link, revoke", _devices
    )
    device_commands = devices.add_subparsers(dest="devices_command", metavar="COMMAND")
    common.command(device_commands, "list", "list the devices (* = this one)", _devices)
    common.command(
        device_commands,
        "link",
        "issue a one-time code to enroll another device of this principal",
        _link,
    )
    revoke = common.command(device_commands, "revoke", "revoke one of the devices", _revoke)
    revoke.add_argument("device", metavar="DEVICE", help="its id (liaison devices)")
    revoke.add_argument(
        "--this-device", action="store_true", help="allow revoking the device running this"
    )
