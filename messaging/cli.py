"""The ``liaison`` command: run the server, act as the operator, or be one device.

Thin on purpose: every protocol step is in ``messaging.client``; this module parses arguments,
reads files and prints. Errors print ``error: <code>: <detail>`` and exit 1 (2 for usage).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import logging
import mimetypes
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any, get_args

from pydantic import ValidationError

from messaging import client, models

DEFAULT_SERVER = "http://127.0.0.1:8080"
DEFAULT_KEY_FILE = "~/.config/liaison/device.json"

Command = Callable[[argparse.Namespace], int]


# --- output -----------------------------------------------------------------------------------


def _print_json(document: Any) -> None:
    print(json.dumps(document, ensure_ascii=False), flush=True)


def _fields(rows: list[tuple[str, str]]) -> str:
    width = max(len(label) for label, _ in rows)
    return "\n".join(f"{label.ljust(width)}  {value}" for label, value in rows)


def _table(header: tuple[str, ...], rows: list[tuple[str, ...]]) -> str:
    widths = [max(len(row[i]) for row in [header, *rows]) for i in range(len(header))]
    return "\n".join(
        "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip()
        for row in [header, *rows]
    )


def _describe(item: client.StreamItem) -> str:
    if isinstance(item, client.ReceivedMessage):
        rows = [
            ("message", f"{item.id}  {item.created_at}"),
            ("from", f"{item.sender} ({item.sender_device})"),
            ("to", ", ".join(item.recipients)),
            ("subject", item.subject),
        ]
        if item.in_reply_to:
            rows.append(("reply to", item.in_reply_to))
        if item.dossier is not None:
            rows.append(
                ("dossier", f"{item.dossier.ins} {item.dossier.type}: {item.dossier.title}")
            )
        rows += [
            ("attached", f"{a.name} ({a.media_type}, {len(a.data)} bytes)")
            for a in item.attachments
        ]
        body = "\n".join(f"    {line}" for line in item.body.splitlines())
        return f"{_fields(rows)}\n\n{body}\n"
    if isinstance(item, client.ReceivedReceipt):
        return (
            f"receipt  {item.message_id} {item.status} to {item.recipient}"
            f" ({item.device}) at {item.at}"
        )
    if isinstance(item, client.ReceivedNotification):
        details = {k: v for k, v in item.notification.items() if k != "event"}
        return f"notice   {item.event} {json.dumps(details, ensure_ascii=False)}"
    if isinstance(item, client.BacklogDrained):
        return "-- backlog delivered; waiting for new events (Ctrl-C to stop) --"
    return f"invalid  {item.cursor}: {item.code}: {item.detail}"


def _warn_invalid(event: client.InvalidEvent, acked: bool) -> None:
    fate = "acked (discarded)" if acked else "left queued"
    print(
        f"warning: event {event.cursor} failed verification ({event.code}: {event.detail}); {fate}",
        file=sys.stderr,
    )


# --- commands ---------------------------------------------------------------------------------


def _server(args: argparse.Namespace, identity: client.DeviceIdentity | None = None) -> str:
    if args.server:
        return str(args.server)
    return identity.server_url if identity is not None else DEFAULT_SERVER


def _device(args: argparse.Namespace) -> client.LiaisonClient:
    identity = client.DeviceIdentity.load(args.key_file)
    return client.LiaisonClient(_server(args, identity), identity)


def _admin(args: argparse.Namespace) -> client.AdminClient:
    token = args.admin_token
    if not token:
        raise client.SdkError(
            "no_admin_token", "give --admin-token or set LIAISON_ADMIN_TOKEN (the operator token)"
        )
    return client.AdminClient(_server(args), token)


def _serve(args: argparse.Namespace) -> int:
    from messaging.server.runner import serve
    from messaging.settings import Settings

    overrides = {k: getattr(args, k) for k in ("host", "port") if getattr(args, k) is not None}
    try:
        settings = Settings(**overrides)
    except ValidationError as exc:
        raise client.SdkError("invalid_settings", str(exc)) from exc
    serve(settings, workers=args.workers)
    return 0


def _principal_add(args: argparse.Namespace) -> int:
    async def create() -> models.PrincipalSummary:
        async with _admin(args) as admin:
            return await admin.create_principal(
                args.id,
                args.kind,
                args.name,
                profession=args.profession,
                roles=args.role,
                members=args.member or None,
            )

    summary = asyncio.run(create())
    if args.json:
        _print_json(summary.model_dump())
    else:
        print(f"created {summary.id} ({summary.kind}) {summary.display_name}")
    return 0


def _enroll_code(args: argparse.Namespace) -> int:
    async def issue() -> models.EnrollmentCodeResponse:
        async with _admin(args) as admin:
            return await admin.enrollment_code(args.principal)

    code = asyncio.run(issue())
    if args.json:
        _print_json(code.model_dump())
    else:
        print(_fields([("code", code.code), ("expires", code.expires_at)]))
    return 0


def _enroll(args: argparse.Namespace) -> int:
    key_file = Path(args.key_file).expanduser()
    if key_file.exists():
        # Overwriting would lose this device's secret keys for good.
        raise client.SdkError(
            "key_file_exists", f"{key_file} already holds a device; choose another --key-file"
        )
    identity = asyncio.run(client.enroll(_server(args), args.principal, args.code, args.name))
    identity.save(key_file)
    if args.json:
        _print_json(
            {
                "principal": identity.principal,
                "device": identity.device_id,
                "server": identity.server_url,
                "key_file": str(key_file),
            }
        )
    else:
        print(f"enrolled {identity.device_id} for {identity.principal}; keys in {key_file}")
    return 0


def _attachment(path: str) -> client.Attachment:
    source = Path(path)
    media_type = mimetypes.guess_type(source.name)[0] or "application/octet-stream"
    return client.Attachment(source.name, media_type, source.read_bytes())


def _dossier(args: argparse.Namespace) -> models.DossierHeader | None:
    given = [args.dossier_ins, args.dossier_type, args.dossier_title]
    if not any(given):
        return None
    if not all(given):
        raise client.SdkError(
            "invalid_request", "--dossier-ins, --dossier-type and --dossier-title go together"
        )
    try:
        return models.DossierHeader(
            ins=args.dossier_ins, type=args.dossier_type, title=args.dossier_title
        )
    except ValidationError as exc:
        raise client.SdkError("invalid_request", f"bad dossier header: {exc}") from exc


def _send(args: argparse.Namespace) -> int:
    if args.body_file is None:
        body = args.body
    elif args.body_file == "-":
        body = sys.stdin.read()
    else:
        body = Path(args.body_file).read_text(encoding="utf-8")
    attachments = [_attachment(path) for path in args.attach]
    dossier = _dossier(args)
    device = _device(args)

    async def send() -> client.SendResult:
        async with device:
            return await device.send(
                args.to,
                args.subject,
                body,
                attachments,
                in_reply_to=args.in_reply_to,
                dossier=dossier,
            )

    result = asyncio.run(send())
    if args.json:
        _print_json(result.as_dict())
    else:
        print(f"sent {result.id} at {result.accepted_at}")
        if result.dossier is not None:
            print(f"dossier {result.dossier.status} {result.dossier.code or ''}".rstrip())
    return 0


def _inbox(args: argparse.Namespace) -> int:
    device = _device(args)
    ack_invalid = args.ack_invalid and not args.no_ack

    async def inbox() -> client.FetchResult:
        async with device:
            fetched = await device.fetch(limit=args.limit, wait=args.wait)
            to_ack = [
                e.cursor
                for e in fetched.events
                if e.cursor is not None and (ack_invalid or not isinstance(e, client.InvalidEvent))
            ]
            # Shown before acked: a crash in between shows an event twice, never loses one.
            _show_fetched(args, fetched, ack_invalid)
            if to_ack and not args.no_ack:
                await device.ack(to_ack)
            return fetched

    asyncio.run(inbox())
    return 0


def _show_fetched(args: argparse.Namespace, fetched: client.FetchResult, ack_invalid: bool) -> None:
    if args.json:
        _print_json({"events": [e.as_dict() for e in fetched.events], "next": fetched.next})
    shown: list[client.ReceivedEvent] = []
    for event in fetched.events:
        if isinstance(event, client.InvalidEvent):
            _warn_invalid(event, acked=ack_invalid)
        else:
            shown.append(event)
    if not args.json:
        print("\n".join(_describe(e) for e in shown) if shown else "no new events", flush=True)


def _watch(args: argparse.Namespace) -> int:
    device = _device(args)

    async def watch() -> None:
        async with device:
            async for item in device.stream():
                if args.json:
                    _print_json(item.as_dict())
                elif not isinstance(item, client.InvalidEvent):
                    print(_describe(item), flush=True)
                if isinstance(item, client.InvalidEvent):
                    _warn_invalid(item, acked=False)
                elif not isinstance(item, client.BacklogDrained):
                    await device.ack([item.cursor])

    with contextlib.suppress(KeyboardInterrupt):  # Ctrl-C is how watching ends.
        asyncio.run(watch())
    return 0


def _devices(args: argparse.Namespace) -> int:
    device = _device(args)

    async def listing() -> list[models.OwnDevice]:
        async with device:
            return await device.list_devices()

    devices = asyncio.run(listing())
    current = device.identity.device_id
    if args.json:
        _print_json({"devices": [d.model_dump() for d in devices], "current": current})
    else:
        rows: list[tuple[str, ...]] = [
            (d.id + (" *" if d.id == current else ""), d.name, d.created_at) for d in devices
        ]
        print(_table(("DEVICE", "NAME", "ENROLLED"), rows))
    return 0


# --- parser -----------------------------------------------------------------------------------


def _global_options(parser: argparse.ArgumentParser, *, defaults: bool) -> None:
    """The same options at the top and on every command, so that they go anywhere."""

    def default(value: Any) -> Any:
        return value if defaults else argparse.SUPPRESS

    group = parser.add_argument_group("global options") if not defaults else parser
    group.add_argument(
        "--server",
        metavar="URL",
        default=default(os.environ.get("LIAISON_SERVER")),
        help=f"server URL (env LIAISON_SERVER; else the key file's, else {DEFAULT_SERVER})",
    )
    group.add_argument(
        "--key-file",
        metavar="PATH",
        default=default(os.environ.get("LIAISON_KEY_FILE", DEFAULT_KEY_FILE)),
        help=f"this device's key file (env LIAISON_KEY_FILE; default {DEFAULT_KEY_FILE})",
    )
    group.add_argument(
        "--admin-token",
        metavar="TOKEN",
        default=default(os.environ.get("LIAISON_ADMIN_TOKEN")),
        help="operator token for admin commands (env LIAISON_ADMIN_TOKEN)",
    )
    group.add_argument(
        "--json",
        action="store_true",
        default=default(False),
        help="machine output: one JSON document per result (per line for watch)",
    )


def _command(
    subparsers: argparse._SubParsersAction[argparse.ArgumentParser],
    name: str,
    help_text: str,
    run: Command | None = None,
) -> argparse.ArgumentParser:
    parser = subparsers.add_parser(name, help=help_text, description=help_text)
    _global_options(parser, defaults=False)
    if run is not None:
        parser.set_defaults(run=run)
    return parser


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="liaison", description="End-to-end encrypted messaging for health professionals."
    )
    _global_options(parser, defaults=True)
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    serve = _command(commands, "serve", "run the server (settings from LIAISON_* variables)")
    serve.add_argument("--host", help="listen address (default: LIAISON_HOST or 127.0.0.1)")
    serve.add_argument("--port", type=int, help="listen port (default: LIAISON_PORT or 8080)")
    serve.add_argument("--workers", type=int, default=1, help="server processes (default 1)")

    admin = _command(commands, "admin", "operator commands (need the operator token)")
    admin_commands = admin.add_subparsers(dest="admin_command", metavar="COMMAND", required=True)
    principal = _command(admin_commands, "principal", "manage principals")
    principal_commands = principal.add_subparsers(
        dest="principal_command", metavar="COMMAND", required=True
    )
    add = _command(principal_commands, "add", "register a principal", _principal_add)
    add.add_argument("id", help="rpps:<11 digits>, org:<slug>, app:<slug> or patient:<INS>")
    add.add_argument("--kind", required=True, choices=get_args(models.PrincipalKind))
    add.add_argument("--name", required=True, help="display name")
    add.add_argument("--profession")
    add.add_argument("--role", action="append", default=[], choices=get_args(models.Role))
    add.add_argument("--member", action="append", default=[], help="organisation member")
    code = _command(admin_commands, "enroll-code", "issue a one-time enrollment code", _enroll_code)
    code.add_argument("principal")

    enroll = _command(commands, "enroll", "enroll this device and write its key file", _enroll)
    enroll.add_argument("--principal", required=True)
    enroll.add_argument("--code", required=True, help="the one-time enrollment code")
    enroll.add_argument("--name", required=True, help="a name for this device")

    send = _command(commands, "send", "send an end-to-end encrypted message", _send)
    send.add_argument("--to", action="append", required=True, metavar="PRINCIPAL")
    send.add_argument("--subject", required=True)
    body = send.add_mutually_exclusive_group(required=True)
    body.add_argument("--body")
    body.add_argument("--body-file", metavar="FILE", help="read the body from FILE ('-': stdin)")
    send.add_argument("--attach", action="append", default=[], metavar="FILE")
    send.add_argument("--in-reply-to", metavar="MESSAGE_ID")
    send.add_argument("--dossier-ins", metavar="INS", help="attach to this patient's dossier")
    send.add_argument("--dossier-type", metavar="TYPE", help="document type")
    send.add_argument("--dossier-title", metavar="TITLE", help="document title")

    inbox = _command(commands, "inbox", "fetch, show and acknowledge new events", _inbox)
    inbox.add_argument("--wait", type=float, default=0, help="seconds to wait for one (0-30)")
    inbox.add_argument("--limit", type=int, default=100, help="at most this many (1-500)")
    inbox.add_argument("--no-ack", action="store_true", help="leave the events queued")
    inbox.add_argument(
        "--ack-invalid", action="store_true", help="also discard events that fail verification"
    )

    _command(commands, "watch", "stream events until Ctrl-C, acknowledging them", _watch)
    _command(commands, "devices", "list this principal's devices (* = this one)", _devices)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.command != "serve":
        logging.basicConfig(level=logging.WARNING, format="warning: %(message)s", stream=sys.stderr)
    run: Command = _serve if args.command == "serve" else args.run
    try:
        return run(args)
    except client.SdkError as exc:
        print(f"error: {exc.code}: {exc.detail}", file=sys.stderr)
        return 1
    except OSError as exc:
        print(f"error: file_error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 0 if args.command == "serve" else 130


if __name__ == "__main__":
    sys.exit(main())
