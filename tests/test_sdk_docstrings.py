"""Every public name of the SDK says what it is: each name ``messaging.client`` exports, and each
public method and property of its classes, has a docstring of its own (issue 9); a constant has
the string literal that follows its assignment, as Sphinx and IDEs read it."""

from __future__ import annotations

import ast
import inspect
import itertools
from functools import cached_property
from pathlib import Path
from typing import Any

import messaging.client
from messaging import models

SOURCES = [*Path(messaging.client.__file__).parent.glob("*.py"), Path(models.__file__)]


def _documented_assignments() -> set[str]:
    """Names assigned at module level and followed by a docstring, in the SDK and its models."""
    names: set[str] = set()
    for source in SOURCES:
        body = ast.parse(source.read_text(encoding="utf-8")).body
        for statement, following in itertools.pairwise(body):
            targets = (
                statement.targets
                if isinstance(statement, ast.Assign)
                else [statement.target]
                if isinstance(statement, ast.AnnAssign)
                else []
            )
            documented = (
                isinstance(following, ast.Expr)
                and isinstance(following.value, ast.Constant)
                and isinstance(following.value.value, str)
            )
            if documented:
                names |= {t.id for t in targets if isinstance(t, ast.Name)}
    return names


def _own_doc(obj: Any) -> str:
    """The docstring written for ``obj``, not one Python generated (a dataclass's or a named
    tuple's signature) nor one inherited."""
    doc = obj.__dict__.get("__doc__") if inspect.isclass(obj) else obj.__doc__
    if not isinstance(doc, str):
        return ""
    if inspect.isclass(obj) and doc.startswith(f"{obj.__name__}("):
        return ""
    return doc.strip()


def _public_members(cls: type) -> dict[str, Any]:
    """Public methods and properties that the SDK's own classes define for ``cls``."""
    members: dict[str, Any] = {}
    for klass in reversed(cls.__mro__):
        if not klass.__module__.startswith("messaging.client"):
            continue
        for name, value in vars(klass).items():
            if name.startswith("_"):
                continue
            if isinstance(value, staticmethod | classmethod):
                members[name] = value.__func__
            elif inspect.isfunction(value) or isinstance(value, property | cached_property):
                members[name] = value
    return members


def test_every_public_sdk_name_has_a_docstring() -> None:
    constants = _documented_assignments()
    undocumented = []
    for name in messaging.client.__all__:
        obj = getattr(messaging.client, name)
        if inspect.isclass(obj) or inspect.isfunction(obj):
            if not _own_doc(obj):
                undocumented.append(name)
        elif name not in constants:
            undocumented.append(f"{name} (constant or type)")
        if inspect.isclass(obj):
            undocumented += [
                f"{name}.{member}"
                for member, value in _public_members(obj).items()
                if not (getattr(value, "__doc__", None) or "").strip()
            ]
    assert undocumented == []


def test_the_check_sees_a_missing_docstring() -> None:
    class Bare:
        def method(self) -> None:
            pass

    Bare.__module__ = "messaging.client.example"
    assert _own_doc(Bare) == ""
    assert list(_public_members(Bare)) == ["method"]
