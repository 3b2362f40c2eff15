"""Loading ``Settings`` for a person at a terminal: one line per invalid variable, naming it and
what it expects, and a warning for each ``LIAISON_*`` variable that nothing reads.

pydantic-settings ignores unknown environment variables (``extra="forbid"`` only guards keyword
arguments and dotenv files), so a misspelt port variable would silently leave the port at
its default; ``unknown_variables`` catches it.
"""

from __future__ import annotations

import difflib
import types
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Final, Literal, Union, get_args, get_origin

import annotated_types
from pydantic import SecretStr, ValidationError

from messaging.settings import Settings

PREFIX: Final = "LIAISON_"

READ_ELSEWHERE: Final = {
    "LIAISON_SERVER": "the CLI's --server",
    "LIAISON_KEY_FILE": "the CLI's --key-file",
    "LIAISON_REDIS_PASSWORD": "docker-compose.yml (Redis's password, inside LIAISON_REDIS_URL)",
    "LIAISON_TEST_REDIS_BINARY": "the test suite (Redis binary)",
    "LIAISON_TEST_CHROMIUM": "the browser tests (Chromium binary)",
    "LIAISON_UPDATE_SCREENSHOTS": "the browser tests (rewrite docs/web screenshots)",
}
"""``LIAISON_*`` variables that are not server settings, and who reads them."""

# Values never repeated in an error line: a secret, or a URL that may carry a password.
_UNECHOED: Final = frozenset({"redis_url"})


class SettingsError(Exception):
    """Invalid settings: ``lines`` say, one each, which variable is wrong and what it expects."""

    def __init__(self, lines: list[str]) -> None:
        super().__init__("; ".join(lines))
        self.lines = lines


def variable(field: str) -> str:
    return PREFIX + field.upper()


def known_variables() -> frozenset[str]:
    return frozenset({variable(name) for name in Settings.model_fields} | set(READ_ELSEWHERE))


def unknown_variables(environ: Mapping[str, str]) -> list[str]:
    """A warning per ``LIAISON_*`` variable that nothing reads, with the closest known name."""
    known = sorted(known_variables())
    warnings = []
    for name in sorted(environ):
        if not name.startswith(PREFIX) or name in known:
            continue
        close = difflib.get_close_matches(name, known, n=1, cutoff=0.75)
        hint = f" (did you mean {close[0]}?)" if close else ""
        warnings.append(f"{name} is not a Liaison setting{hint}; it is ignored")
    return warnings


def load(
    overrides: Mapping[str, Any] | None = None, flags: Mapping[str, str] | None = None
) -> Settings:
    """``Settings`` from the environment, with ``overrides`` (command-line options, each named
    in messages by its entry in ``flags``) on top; ``SettingsError`` when anything is invalid."""
    given = dict(overrides or {})
    named = {field: flag for field, flag in (flags or {}).items() if field in given}
    try:
        return Settings(**given)
    except ValidationError as exc:
        raise SettingsError([_describe(error, named) for error in exc.errors()]) from None


def _describe(error: Any, flags: Mapping[str, str]) -> str:
    location = error.get("loc") or ()
    name = str(location[0]) if location else ""
    field = Settings.model_fields.get(name)
    message = str(error.get("msg", "invalid")).removeprefix("Value error, ")
    if field is None:
        return message  # a rule across several settings names them itself
    where = variable(name) if name not in flags else f"{flags[name]} ({variable(name)})"
    value = error.get("input")
    shown = ""
    if isinstance(value, str) and name not in _UNECHOED and not _is_secret(field.annotation):
        shown = f"={value!r}"
    if error.get("type") == "value_error":
        return f"{where}{shown}: {message}"
    return f"{where}{shown}: expected {_expected(field.annotation, field.metadata)}"


def _is_secret(annotation: Any) -> bool:
    return SecretStr in _members(annotation)


def _members(annotation: Any) -> tuple[Any, ...]:
    if get_origin(annotation) in (Union, types.UnionType):
        return tuple(a for a in get_args(annotation) if a is not type(None))
    return (annotation,)


def _expected(annotation: Any, metadata: list[Any]) -> str:
    (kind, *_) = _members(annotation)
    if get_origin(kind) is Literal:
        return "one of " + ", ".join(str(choice) for choice in get_args(kind))
    noun = {
        int: "an integer",
        float: "a number",
        bool: "true or false",
        Path: "a path",
        SecretStr: "a secret (text)",
    }.get(kind, "text")
    bounds = []
    for constraint in metadata:
        if isinstance(constraint, annotated_types.Ge):
            bounds.append(f">= {constraint.ge}")
        elif isinstance(constraint, annotated_types.Gt):
            bounds.append(f"> {constraint.gt}")
        elif isinstance(constraint, annotated_types.Le):
            bounds.append(f"<= {constraint.le}")
        elif isinstance(constraint, annotated_types.Lt):
            bounds.append(f"< {constraint.lt}")
    return noun + (" " + " and ".join(bounds) if bounds else "")
