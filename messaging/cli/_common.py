"""What every command shares: output formats, the global options, and the SDK clients."""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any, TypeAlias

from messaging import client, identifiers, wire_types

DEFAULT_SERVER = "http://127.0.0.1:8080"
DEFAULT_KEY_FILE = "~/.config/liaison/device.json"

Command = Callable[[argparse.Namespace], int]


class Failure(Exception):
    """A command failed for a reason its ``lines`` say, one ``error:`` line each."""

    def __init__(self, lines: list[str], exit_code: int = 1) -> None:
        super().__init__("; ".join(lines))
        self.lines = lines
        self.exit_code = exit_code


# --- output -----------------------------------------------------------------------------------

# Characters a sender could use against the reader's terminal: C0 and C1 controls (ESC and CSI
# start escape sequences), DEL, bidirectional overrides (text that reads otherwise than it is),
# line separators, and lone surrogates (which no encoder can write). Shown as \uXXXX instead.
_BIDI_AND_SEPARATORS = r"\u061c\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069\ud800-\udfff"
_UNSAFE_IN_LINE = re.compile(rf"[\x00-\x1f\x7f-\x9f{_BIDI_AND_SEPARATORS}]")
_UNSAFE_IN_BLOCK = re.compile(rf"[\x00-\x08\x0b-\x1f\x7f-\x9f{_BIDI_AND_SEPARATORS}]")  # \t \n kept


def _escaped(match: re.Match[str]) -> str:
    return f"\\u{ord(match.group()):04x}"


def line(text: str) -> str:
    """``text`` safe to print as one line of a terminal, whoever wrote it."""
    return _UNSAFE_IN_LINE.sub(_escaped, text)


def block(text: str, indent: str = "    ") -> str:
    """A message body safe to print: its own lines (and tabs) kept, each indented."""
    safe = _UNSAFE_IN_BLOCK.sub(_escaped, text.replace("\r\n", "\n"))
    return "\n".join(f"{indent}{row}" for row in safe.splitlines())


def print_json(document: Any) -> None:
    # JSON escapes C0 controls itself; the rest of the unsafe set can only stand inside strings
    # in JSON text, where \uXXXX is the same character to a JSON reader.
    print(line(json.dumps(document, ensure_ascii=False)), flush=True)


def done(args: argparse.Namespace, message: str, document: dict[str, Any]) -> int:
    """A command's result: ``document`` under ``--json``, else ``message``; exit 0."""
    if args.json:
        print_json(document)
    else:
        print(line(message))
    return 0


def fields(rows: list[tuple[str, str]]) -> str:
    width = max(len(label) for label, _ in rows)
    return "\n".join(f"{label.ljust(width)}  {line(value)}" for label, value in rows)


def table(header: tuple[str, ...], rows: Sequence[tuple[str, ...]]) -> str:
    safe = [tuple(line(cell) for cell in row) for row in [header, *rows]]
    widths = [max(len(row[i]) for row in safe) for i in range(len(header))]
    return "\n".join(
        "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip()
        for row in safe
    )


# --- attachments ------------------------------------------------------------------------------

_NAME_LIMIT = 120
"""Characters kept of a sender's file name: well under every file system's 255-byte limit."""
_UNSAFE_IN_NAME = re.compile(rf"[\x00-\x1f\x7f-\x9f/\\{_BIDI_AND_SEPARATORS}]")


def safe_file_name(name: str, number: int) -> str:
    """A sender's attachment name as a plain file name: no directory part, no control,
    bidirectional or separator character, no leading dot (no hidden file, no ``..``), and a
    bounded length with the extension kept; ``attachment-<number>`` when nothing is left."""
    cleaned = _UNSAFE_IN_NAME.sub("_", name).strip().lstrip(".").strip()
    if len(cleaned) > _NAME_LIMIT:
        stem, dot, extension = cleaned.rpartition(".")
        keep = extension if dot and stem and len(extension) <= 16 else ""
        cleaned = cleaned[: _NAME_LIMIT - len(keep) - 1].rstrip() + ("." + keep if keep else "")
    return cleaned or f"attachment-{number}"


def save_attachments(attachments: Iterable[client.Attachment], directory: str) -> list[Path]:
    """Write each decrypted attachment into ``directory``, readable by this user only, under
    its ``safe_file_name``; an existing file is never replaced (``name (2).ext`` instead)."""
    target = Path(directory).expanduser()
    target.mkdir(parents=True, exist_ok=True)
    saved = []
    for number, attachment in enumerate(attachments, 1):
        name = safe_file_name(attachment.name, number)
        stem, dot, extension = name.rpartition(".")
        if not stem:
            stem, dot, extension = name, "", ""
        for copy in range(1, 1000):
            path = target / (name if copy == 1 else f"{stem} ({copy}){dot}{extension}")
            try:
                # O_EXCL: never an existing file, nor through a symbolic link planted there.
                handle = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            except FileExistsError:
                continue
            with os.fdopen(handle, "wb") as file:
                file.write(attachment.data)
            saved.append(path)
            break
        else:
            raise FileExistsError(f"{target}: too many files named like {name}")
    return saved


# --- clients ----------------------------------------------------------------------------------


def server(args: argparse.Namespace, identity: client.DeviceIdentity | None = None) -> str:
    if args.server:
        return str(args.server)
    return identity.server_url if identity is not None else DEFAULT_SERVER


def device(args: argparse.Namespace) -> client.LiaisonClient:
    """This device, keeping its access-log checkpoints beside its key file."""
    identity = client.DeviceIdentity.load(args.key_file)
    checkpoints = client.CheckpointStore.beside(args.key_file)
    return client.LiaisonClient(server(args, identity), identity, checkpoints=checkpoints)


def admin(args: argparse.Namespace) -> client.AdminClient:
    token = args.admin_token
    if not token:
        raise client.SdkError(
            "no_admin_token", "give --admin-token or set LIAISON_ADMIN_TOKEN (the operator token)"
        )
    return client.AdminClient(server(args), token)


# --- parser -----------------------------------------------------------------------------------


def global_options(parser: argparse.ArgumentParser, *, defaults: bool) -> None:
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


# A string: argparse does not make the class subscriptable at run time.
Subcommands: TypeAlias = "argparse._SubParsersAction[argparse.ArgumentParser]"


def command(
    subparsers: Subcommands, name: str, help_text: str, run: Command | None = None
) -> argparse.ArgumentParser:
    parser = subparsers.add_parser(name, help=help_text, description=help_text)
    global_options(parser, defaults=False)
    if run is not None:
        parser.set_defaults(run=run)
    return parser


# --- local checks: refused here, before anything is sent ---------------------------------------


def checked_ins(ins: str) -> str:
    """``ins`` if it is a well-formed INS whose key matches (ID-1), else ``invalid_ins``."""
    try:
        return identifiers.validate_ins(ins)
    except identifiers.InvalidIns as exc:
        raise client.SdkError("invalid_ins", f"{ins}: {exc}") from None


def checked_principal(principal: str) -> str:
    """``principal`` if it is a well-formed id (an RPPS number of 11 digits, a patient's valid
    INS), else an error naming what is wrong. An RPPS number failing the Luhn check passes
    (ID-3: it may still be real); the server warns the operator who registers it."""
    kind, _, value = principal.partition(":")
    if kind == "patient":
        checked_ins(value)
    elif kind == "rpps":
        try:
            identifiers.validate_rpps(value)
        except identifiers.InvalidRpps as exc:
            raise client.SdkError("invalid_rpps", f"{principal}: {exc}") from None
    if re.fullmatch(wire_types.PRINCIPAL_PATTERN, principal) is None:
        raise client.SdkError(
            "invalid_principal",
            f"{principal!r} is not rpps:<11 digits>, org:<slug>, app:<slug> or patient:<INS>",
        )
    return principal


def warn(text: str) -> None:
    """A ``warning:`` line on stderr: shown in every output mode, ``--json`` included."""
    print(line(f"warning: {text}"), file=sys.stderr, flush=True)
