"""``liaison admin representation add|list|remove``: the operator records that a ``patient:``
principal represents a holder (DESIGN §4), lists and removes those records."""

from __future__ import annotations

import argparse
import asyncio
from typing import get_args

from messaging.cli import _common as common
from messaging.representations import RepresentationKind, RepresentationView


def _add(args: argparse.Namespace) -> int:
    common.checked_ins(args.holder)
    common.checked_principal(args.representative)

    async def add() -> str:
        async with common.admin(args) as admin:
            return await admin.add_representation(
                args.holder,
                args.representative,
                args.kind,
                args.evidence,
                valid_until=args.valid_until,
            )

    representation = asyncio.run(add())
    message = f"recorded {representation}: {args.representative} represents {args.holder}"
    return common.done(args, message, {"id": representation})


def _list(args: argparse.Namespace) -> int:
    async def listing() -> list[RepresentationView]:
        async with common.admin(args) as admin:
            return await admin.representations(
                holder=args.holder, representative=args.representative
            )

    found = asyncio.run(listing())
    if args.json:
        common.print_json({"representations": [r.model_dump() for r in found]})
    else:
        rows = [
            (r.id, r.holder, r.representative, r.kind, r.ends_at or "-", "yes" if r.live else "no")
            for r in found
        ]
        print(common.table(("ID", "HOLDER", "REPRESENTATIVE", "KIND", "ENDS", "LIVE"), rows))
    return 0


def _remove(args: argparse.Namespace) -> int:
    async def remove() -> None:
        async with common.admin(args) as admin:
            await admin.remove_representation(args.id)

    asyncio.run(remove())
    return common.done(args, f"removed {args.id}: its rights ended", {"removed": args.id})


def register(admin_commands: common.Subcommands) -> None:
    group = common.command(admin_commands, "representation", "record who represents a holder")
    commands = group.add_subparsers(dest="representation_command", metavar="COMMAND", required=True)
    add = common.command(commands, "add", "record a verified representation", _add)
    add.add_argument("holder", metavar="HOLDER_INS", help="the represented holder's INS")
    add.add_argument("representative", metavar="PRINCIPAL", help="the representative's patient:")
    add.add_argument("--kind", required=True, choices=get_args(RepresentationKind))
    add.add_argument("--evidence", required=True, help="what was verified (judgment, record)")
    add.add_argument("--valid-until", metavar="TIME", help="RFC 3339 UTC end (protection)")
    listing = common.command(commands, "list", "list representations", _list)
    whose = listing.add_mutually_exclusive_group(required=True)
    whose.add_argument("--holder", metavar="INS")
    whose.add_argument("--representative", metavar="PRINCIPAL")
    remove = common.command(commands, "remove", "remove one: its rights end at once", _remove)
    remove.add_argument("id", metavar="ID")
