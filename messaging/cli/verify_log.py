"""``liaison verify-log LOG [--checkpoint CP]…``: check a saved access log offline.

The chain, the checkpoint saved with the log, and each checkpoint given (kept from an earlier
read or a notification) are checked by the SDK (``client.log_check``); the signatures with the
server key given, else with the one the checkpoints beside the key file were verified under.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from dossier_link.access_log import ChainCheck
from dossier_link.log_models import LogCheckpoint
from messaging import client, crypto
from messaging.cli import _common as common


def verdict_line(check: ChainCheck, failure: client.LogFailure | None, scope: str) -> str:
    if not check.ok:
        return f"chain broken at seq {check.broken_at}: {check.reason}"
    if failure is not None:
        return f"{failure.code} at seq {failure.seq}: {failure.message}"
    if scope == "own":
        return f"own entries verified: {check.entries} entries (links run through others')"
    return f"chain verified: {check.entries} entries"


def checkpoint_line(checkpoint: LogCheckpoint | None, kept: int | None) -> str:
    if checkpoint is None:
        return "no checkpoint: the log's end is not proven"
    line = f"checkpoint verified: {checkpoint.ins} seq {checkpoint.seq} at {checkpoint.at}"
    return line if kept is None else f"{line}, consistent with {kept} kept checkpoint(s)"


def _read_json(name: str, code: str) -> Any:
    text = sys.stdin.read() if name == "-" else Path(name).read_text(encoding="utf-8")
    try:
        return json.loads(text)
    except ValueError as exc:
        raise client.SdkError(code, f"{name} is not JSON: {exc}") from exc


def _server_key(args: argparse.Namespace) -> bytes | None:
    if args.server_key is not None:
        try:
            return crypto.b64u_decode(args.server_key)
        except crypto.CryptoError as exc:
            raise client.SdkError("bad_server_key", "--server-key is not base64url") from exc
    pinned = client.CheckpointStore.beside(args.key_file).server_key()
    return None if pinned is None else crypto.b64u_decode(pinned)


def _verify_log(args: argparse.Namespace) -> int:
    saved = client.SavedLog.parse(_read_json(args.file, "bad_log"))
    kept = [
        client.parse_checkpoint(_read_json(name, "bad_checkpoint"), name)
        for name in args.checkpoint
    ]
    server_key = _server_key(args)
    if kept and server_key is None:
        raise client.SdkError(
            "no_server_key", "give --server-key (the sign_key of GET /v1/server) to check them"
        )
    if kept and args.ins is None and saved.checkpoint is None:
        raise client.SdkError("bad_log", f"{args.file} names no dossier: give --ins")
    verdict = saved.verify(kept=kept, server_key=server_key, ins=args.ins)
    failure = verdict.failure
    if args.json:
        common.print_json(verdict.as_dict())
    else:
        print(verdict_line(verdict.chain, failure, saved.scope))
        if verdict.ok:
            print(checkpoint_line(verdict.checkpoint, len(kept)))
            if verdict.checkpoint is not None and not verdict.signatures_checked:
                print("signatures not checked: give --server-key")
    return 0 if verdict.ok else 1


def register(commands: common.Subcommands) -> None:
    verify = common.command(
        commands,
        "verify-log",
        "verify a saved access log offline, against kept checkpoints (exit 1 if it fails)",
        _verify_log,
    )
    verify.add_argument("file", metavar="LOG", help="the log's JSON ('-': stdin)")
    verify.add_argument(
        "--checkpoint",
        metavar="CP",
        action="append",
        default=[],
        help="a checkpoint kept earlier (JSON: the checkpoint, a log, a notification); repeatable",
    )
    verify.add_argument(
        "--server-key",
        metavar="KEY",
        help="the server's sign key, base64url; write --server-key=KEY, as a key may start "
        "with '-' (default: the key the checkpoints kept beside the key file were verified "
        "under)",
    )
    verify.add_argument("--ins", metavar="INS", help="the log's dossier, if LOG does not say")
