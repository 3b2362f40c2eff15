"""The server and message commands: serve, the ``admin`` group, enroll, send, inbox, watch."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import sys
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from messaging import client, models
from messaging.cli import _common as common
from messaging.cli import attachments, sentences

# --- output -----------------------------------------------------------------------------------


def _describe(item: client.StreamItem) -> str:
    if isinstance(item, client.ReceivedMessage):
        rows = _envelope_rows(item, "message")
        rows.append(("subject", item.subject))
        if item.in_reply_to:
            rows.append(("reply to", item.in_reply_to))
        rows += [
            ("attached", f"{a.name} ({a.media_type}, {len(a.data)} bytes)")
            for a in item.attachments
        ]
        rows += [
            ("attached", f"{b.name} ({b.media_type}, {b.blob.size} bytes, to download)")
            for b in item.blobs
        ]
        return f"{common.fields(rows)}\n\n{common.block(item.body)}\n"
    if isinstance(item, client.UnreadableMessage):
        rows = _envelope_rows(item, "unreadable")
        rows.append(("problem", f"{item.code}: {item.detail}"))
        return f"{common.fields(rows)}\n"
    if isinstance(item, client.ReceivedReceipt):
        return common.line(
            f"receipt  {item.message_id} {item.status} to {item.recipient}"
            f" ({item.device}) at {item.at}"
        )
    if isinstance(item, client.ReceivedNotification):
        details = {k: v for k, v in item.notification.items() if k != "event"}
        return common.line(f"notice   {item.event} {json.dumps(details, ensure_ascii=False)}")
    if isinstance(item, client.BacklogDrained):
        return "-- backlog delivered; waiting for new events (Ctrl-C to stop) --"
    return common.line(f"invalid  {item.cursor}: {item.code}: {item.detail}")


def _envelope_rows(
    item: client.ReceivedMessage | client.UnreadableMessage, kind: str
) -> list[tuple[str, str]]:
    rows = [
        (kind, f"{item.id}  {item.created_at}"),
        ("from", f"{item.sender} ({item.sender_device})"),
        ("to", ", ".join(item.recipients)),
    ]
    if item.dossier is not None:
        rows.append(("dossier", f"{item.dossier.ins} {item.dossier.type}: {item.dossier.title}"))
    return rows


def _warn_invalid(event: client.InvalidEvent, acked: bool) -> None:
    fate = "acked (discarded)" if acked else "left queued"
    print(
        common.line(
            f"warning: event {event.cursor} failed verification ({event.code}: {event.detail});"
            f" {fate}"
        ),
        file=sys.stderr,
    )


def _workers(value: str) -> int:
    """``--workers``: a positive count, or ``auto`` for the cores this process may use."""
    if value == "auto":
        return (
            len(os.sched_getaffinity(0))
            if hasattr(os, "sched_getaffinity")
            else os.cpu_count() or 1
        )
    try:
        count = int(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{value!r} is neither a number nor 'auto'") from None
    if count < 1:
        raise argparse.ArgumentTypeError("at least 1 worker")
    return count


def _serve(args: argparse.Namespace) -> int:
    from messaging import config
    from messaging.redis_server import RedisServerError
    from messaging.server.runner import DataDirInUse, StartupError, exit_at_once, serve

    overrides = {k: getattr(args, k) for k in ("host", "port") if getattr(args, k) is not None}
    if args.json:  # the server's output is its log: --json makes it JSON lines
        overrides["log_format"] = "json"
    flags = {"host": "--host", "port": "--port", "log_format": "--json"}
    try:
        settings = config.load(overrides, flags=flags)
    except config.SettingsError as exc:
        raise common.Failure(exc.lines, exit_code=2) from None
    try:
        serve(settings, workers=args.workers)
    except (DataDirInUse, RedisServerError, StartupError) as exc:
        raise common.Failure([str(exc)]) from None
    exit_at_once()  # stopped cleanly: nothing is left for the interpreter's teardown to do


def _enroll(args: argparse.Namespace) -> int:
    common.checked_principal(args.principal)
    key_file = Path(args.key_file).expanduser()
    if key_file.exists():
        # Overwriting would lose this device's secret keys for good.
        raise client.SdkError(
            "key_file_exists", f"{key_file} already holds a device; choose another --key-file"
        )
    identity = asyncio.run(client.enroll(common.server(args), args.principal, args.code, args.name))
    identity.save(key_file)
    if args.json:
        common.print_json(
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


def _dossier_header(args: argparse.Namespace) -> models.DossierHeader | None:
    given = [args.dossier_ins, args.dossier_type, args.dossier_title]
    if not any(given):
        return None
    if not all(given):
        raise client.SdkError(
            "invalid_request", "--dossier-ins, --dossier-type and --dossier-title go together"
        )
    common.checked_ins(args.dossier_ins)
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
    for recipient in args.to:
        common.checked_principal(recipient)
    dossier = _dossier_header(args)
    device = common.device(args)

    async def send() -> client.SendResult:
        async with device:
            return await device.send(
                args.to,
                args.subject,
                body,
                in_reply_to=args.in_reply_to,
                dossier=dossier,
                files=[Path(path) for path in args.attach],
                progress=attachments.upload_progress,
            )

    result = asyncio.run(send())
    if result.dossier is not None and result.dossier.status == "refused":
        code = result.dossier.code or "refused"
        sentence = sentences.SENTENCES.get(code, "the dossier refused it")
        common.warn(f"delivered, but not filed in the dossier: {code}: {sentence}")
    if args.json:
        common.print_json(result.as_dict())
    else:
        print(f"sent {result.id} at {result.accepted_at}")
        if result.dossier is not None:
            print(f"dossier {result.dossier.status} {result.dossier.code or ''}".rstrip())
    return 0


def _inbox(args: argparse.Namespace) -> int:
    device = common.device(args)
    ack_invalid = args.ack_invalid and not args.no_ack

    async def inbox() -> client.FetchResult:
        async with device:
            fetched = await device.fetch(limit=args.limit, wait=args.wait)
            to_ack = [
                e.cursor
                for e in fetched.events
                if e.cursor is not None and (ack_invalid or not isinstance(e, client.InvalidEvent))
            ]
            # Shown and saved before acked: a crash in between shows an event twice, never
            # loses one.
            await _show_fetched(args, device, fetched, ack_invalid)
            if to_ack and not args.no_ack:
                await device.ack(to_ack)
            return fetched

    asyncio.run(inbox())
    return 0


async def _show_fetched(
    args: argparse.Namespace,
    device: client.LiaisonClient,
    fetched: client.FetchResult,
    ack_invalid: bool,
) -> None:
    received = [(event, *await _received(args, device, event)) for event in fetched.events]
    if args.json:
        common.print_json(
            {"events": [document for _, document, _ in received], "next": fetched.next}
        )
    shown: list[str] = []
    for event, _, saved in received:
        if isinstance(event, client.InvalidEvent):
            _warn_invalid(event, acked=ack_invalid)
        else:
            shown.append(_text(event, saved))
    if not args.json:
        print("\n".join(shown) if shown else "no new events", flush=True)


async def _received(
    args: argparse.Namespace, device: client.LiaisonClient, item: client.StreamItem
) -> tuple[dict[str, Any], list[Path]]:
    """``item`` as JSON and the paths of its attachments, first written to
    ``--save-attachments`` (listed under ``saved`` in the JSON); blobs are downloaded and
    checked first."""
    document = item.as_dict()
    saved: list[Path] = []
    if args.save_attachments and isinstance(item, client.ReceivedMessage):
        if item.attachments:
            saved = common.save_attachments(item.attachments, args.save_attachments)
        saved += await attachments.download(device, item.blobs, args.save_attachments)
        if saved:
            document["saved"] = [str(path) for path in saved]
    return document, saved


def _text(item: client.StreamItem, saved: list[Path]) -> str:
    return "\n".join([_describe(item), *(common.line(f"saved {path}") for path in saved)])


def _watch(args: argparse.Namespace) -> int:
    device = common.device(args)

    async def watch() -> None:
        async with device:
            async for item in device.stream():
                document, saved = await _received(args, device, item)
                if args.json:
                    common.print_json(document)
                elif not isinstance(item, client.InvalidEvent):
                    print(_text(item, saved), flush=True)
                if isinstance(item, client.InvalidEvent):
                    _warn_invalid(item, acked=False)
                elif not isinstance(item, client.BacklogDrained):
                    await device.ack([item.cursor])

    with contextlib.suppress(KeyboardInterrupt):  # Ctrl-C is how watching ends.
        asyncio.run(watch())
    return 0


# --- parser -----------------------------------------------------------------------------------


def register(commands: common.Subcommands) -> common.Subcommands:
    """Add these commands; returns the ``admin`` group's subcommands, for others to extend."""
    serve = common.command(
        commands, "serve", "run the server (settings from LIAISON_* variables)", _serve
    )
    serve.add_argument("--host", help="listen address (default: LIAISON_HOST or 127.0.0.1)")
    serve.add_argument("--port", type=int, help="listen port (default: LIAISON_PORT or 8080)")
    serve.add_argument(
        "--workers",
        type=_workers,
        default=1,
        help="server processes, or 'auto' for one per core (default 1); with several, a master "
        "restarts any that dies",
    )

    admin = common.command(commands, "admin", "operator commands (need the operator token)")
    admin_commands = admin.add_subparsers(dest="admin_command", metavar="COMMAND", required=True)
    enroll = common.command(
        commands, "enroll", "enroll this device and write its key file", _enroll
    )
    enroll.add_argument("--principal", required=True)
    enroll.add_argument("--code", required=True, help="the one-time enrollment code")
    enroll.add_argument("--name", required=True, help="a name for this device")

    send = common.command(commands, "send", "send an end-to-end encrypted message", _send)
    send.add_argument("--to", action="append", required=True, metavar="PRINCIPAL")
    send.add_argument("--subject", required=True)
    body = send.add_mutually_exclusive_group(required=True)
    body.add_argument("--body")
    body.add_argument("--body-file", metavar="FILE", help="read the body from FILE ('-': stdin)")
    send.add_argument(
        "--attach",
        action="append",
        default=[],
        metavar="FILE",
        help="attach FILE; one over 256 KiB is uploaded as an end-to-end encrypted blob",
    )
    send.add_argument("--in-reply-to", metavar="MESSAGE_ID")
    send.add_argument("--dossier-ins", metavar="INS", help="attach to this patient's dossier")
    send.add_argument("--dossier-type", metavar="TYPE", help="document type")
    send.add_argument("--dossier-title", metavar="TITLE", help="document title")

    inbox = common.command(
        commands,
        "inbox",
        "fetch, show and acknowledge new events (unreadable messages included, shown with their"
        " sender and id)",
        _inbox,
    )
    inbox.add_argument("--wait", type=float, default=0, help="seconds to wait for one (0-30)")
    inbox.add_argument("--limit", type=int, default=100, help="at most this many (1-500)")
    inbox.add_argument("--no-ack", action="store_true", help="leave the events queued")
    inbox.add_argument(
        "--ack-invalid", action="store_true", help="also discard events that fail verification"
    )

    watch = common.command(
        commands, "watch", "stream events until Ctrl-C, acknowledging them", _watch
    )
    for parser in (inbox, watch):
        parser.add_argument(
            "--save-attachments",
            metavar="DIR",
            help="write each message's attachments into DIR before it is acknowledged (never"
            " over an existing file; large ones downloaded and checked first)",
        )
    return admin_commands
