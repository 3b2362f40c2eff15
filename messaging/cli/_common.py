"""What every command shares: output formats, the global options, and the SDK clients."""

from __future__ import annotations

import argparse
import json
import os
import re
from collections.abc import Callable, Sequence
from typing import Any, TypeAlias

from messaging import client

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
