"""The ``liaison`` command: run the server, act as the operator, or be one device.

Thin on purpose: every protocol step is in ``messaging.client``; this package parses arguments,
reads files and prints. Errors print ``error: <code>: <sentence>`` (``sentences``: what happened
and what to do next), then the server's detail when it says more, and exit 1 (2 for usage).
Warnings print ``warning: ...`` on stderr, ``--json`` or not.
Modules: ``commands`` (serve, admin, enroll, send, inbox, watch), ``people`` (principals,
devices, directory), ``dossier`` (the ``dossier`` group and ``admin dossier``),
``representation`` (``admin representation``), ``verify_log``, ``sentences``, ``_common``.
"""

from __future__ import annotations

import argparse
import io
import os
import sys

from messaging import client, config, logs
from messaging.bench import cli as bench_cli
from messaging.cli import _common, commands, dossier, people, representation, sentences, verify_log


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="liaison", description="End-to-end encrypted messaging for health professionals."
    )
    _common.global_options(parser, defaults=True)
    subcommands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    admin_commands = commands.register(subcommands)
    people.register(subcommands, admin_commands)
    dossier.register(subcommands, admin_commands)
    representation.register(admin_commands)
    verify_log.register(subcommands)
    _common.global_options(bench_cli.add_parser(subcommands), defaults=False)
    return parser


def main(argv: list[str] | None = None) -> int:
    # A character the terminal's encoding lacks is printed escaped, never a crash mid-inbox.
    for stream in (sys.stdout, sys.stderr):
        if isinstance(stream, io.TextIOWrapper):
            stream.reconfigure(errors="backslashreplace")
    args = build_parser().parse_args(argv)
    if args.command != "serve":  # serve sets up the server's logging from its settings
        logs.configure_cli()
    for warning in config.unknown_variables(os.environ):
        print(f"warning: {warning}", file=sys.stderr)
    run: _common.Command = args.run
    try:
        return run(args)
    except _common.Failure as exc:
        for line in exc.lines:
            print(f"error: {line}", file=sys.stderr)
        return exc.exit_code
    except client.SdkError as exc:
        lines = sentences.explain(exc.code, exc.detail)
        if isinstance(exc, client.ApiError) and exc.retry_after is not None:
            lines.append(f"{exc.code}: the server asks to wait {exc.retry_after:g} s")
        for text in lines:
            print(_common.line(f"error: {text}"), file=sys.stderr)
        return 1
    except OSError as exc:
        print(f"error: {_os_error(exc)}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 0 if args.command == "serve" else 130


def _os_error(exc: OSError) -> str:
    """A failed file (or socket) operation in words, never an empty ``file_error:``."""
    what = exc.strerror or str(exc) or type(exc).__name__
    where = exc.filename if exc.filename is not None else None
    return f"file_error: {where}: {what}" if where is not None else f"os_error: {what}"


__all__ = ["build_parser", "main"]
