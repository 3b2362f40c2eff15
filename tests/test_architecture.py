"""The rules of docs/architecture.md ("Packages and the rules between them"), checked on the
source: imports are read with ``ast``, never by importing, so a forbidden arrow fails here
whether or not the code path that holds it ever runs."""

from __future__ import annotations

import ast
import re
from collections.abc import Iterator
from dataclasses import dataclass
from functools import cache
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("messaging", "dossier_link")

# The components ("packages" for the no-cycle rule) and the arrows allowed between them: a
# layering with the messaging core at the bottom. The same table is in docs/architecture.md.
_SUBPACKAGES = {
    "server": "server",
    "client": "client",
    "cli": "cli",
    "bench": "bench",
    "web": "web",
    "dossier_bridge": "bridge",
}
MAY_IMPORT: dict[str, frozenset[str]] = {
    "core": frozenset(),
    "dossier_link": frozenset({"core"}),
    "bridge": frozenset({"core", "dossier_link"}),
    "server": frozenset({"core", "dossier_link", "bridge", "web"}),
    "web": frozenset(),
    "client": frozenset({"core", "dossier_link"}),
    "bench": frozenset({"core", "client"}),
    "cli": frozenset({"core", "dossier_link", "client", "server", "bench"}),
}
# Third-party packages some components must not import.
FORBIDDEN_LIBRARIES: dict[str, frozenset[str]] = {
    "core": frozenset({"aiohttp"}),  # domain code: no HTTP
    "dossier_link": frozenset({"aiohttp"}),
    "client": frozenset({"redis"}),  # the SDK talks HTTP only
}
NACL_ONLY_IN = "messaging.crypto"
KEYS_ONLY_IN = "messaging.redis_keys"
# What a Redis key looks like in a literal: the key prefix, or a cluster hash tag.
_KEY_LIKE = re.compile(r"liaison:\S|\{[a-z]:")


def component(module: str) -> str | None:
    """The component a module belongs to; ``None`` for anything outside the two packages."""
    top, _, rest = module.partition(".")
    if top == "dossier_link":
        return "dossier_link"
    if top != "messaging":
        return None
    return _SUBPACKAGES.get(rest.partition(".")[0], "core")


@dataclass(frozen=True, slots=True)
class Import:
    source: str
    target: str
    where: str
    """``path:line``, for the message."""


def _module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _is_module(name: str) -> bool:
    path = ROOT.joinpath(*name.split("."))
    return path.with_suffix(".py").is_file() or (path / "__init__.py").is_file()


@cache
def sources() -> tuple[tuple[str, Path, ast.Module], ...]:
    found = []
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            if "node_modules" in path.parts:  # the browser client's npm packages
                continue
            found.append((_module_name(path), path, ast.parse(path.read_text(), str(path))))
    return tuple(found)


@cache
def imports() -> tuple[Import, ...]:
    """Every import in the packages, in function bodies and ``TYPE_CHECKING`` blocks too."""
    found = []
    for module, path, tree in sources():
        package = module if path.name == "__init__.py" else module.rpartition(".")[0]
        for node in ast.walk(tree):
            where = f"{path.relative_to(ROOT)}:{getattr(node, 'lineno', 0)}"
            if isinstance(node, ast.Import):
                found += [Import(module, alias.name, where) for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                    base = ".".join([*anchor, base] if base else anchor)
                for alias in node.names:
                    # ``from messaging import crypto`` imports the module messaging.crypto.
                    name = f"{base}.{alias.name}"
                    found.append(Import(module, name if _is_module(name) else base, where))
    return tuple(found)


def _library(name: str) -> str:
    return name.partition(".")[0]


def test_only_the_crypto_module_imports_nacl() -> None:
    offenders = [
        i.where for i in imports() if _library(i.target) == "nacl" and i.source != NACL_ONLY_IN
    ]
    assert offenders == [], f"only {NACL_ONLY_IN} may import nacl: {offenders}"


def test_components_import_only_the_components_below_them() -> None:
    offenders = []
    for i in imports():
        source, target = component(i.source), component(i.target)
        if source and target and source != target and target not in MAY_IMPORT[source]:
            offenders.append(f"{i.where}: {source} imports {target} ({i.target})")
    assert offenders == [], "forbidden imports:\n" + "\n".join(offenders)


def test_domain_code_and_the_sdk_keep_off_forbidden_libraries() -> None:
    offenders = []
    for i in imports():
        source = component(i.source)
        if source is not None and _library(i.target) in FORBIDDEN_LIBRARIES.get(source, ()):
            offenders.append(f"{i.where}: {source} imports {i.target}")
    assert offenders == [], "forbidden libraries:\n" + "\n".join(offenders)


def _cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One cycle of ``graph`` as the path around it, or ``None``."""
    state: dict[str, str] = {}
    path: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = "open"
        path.append(node)
        for target in sorted(graph.get(node, ())):
            if state.get(target) == "open":
                return [*path[path.index(target) :], target]
            if target not in state and (found := visit(target)) is not None:
                return found
        state[node] = "done"
        path.pop()
        return None

    for node in sorted(graph):
        if node not in state and (found := visit(node)) is not None:
            return found
    return None


def test_no_cycle_between_components() -> None:
    actual: dict[str, set[str]] = {}
    for i in imports():
        source, target = component(i.source), component(i.target)
        if source and target and source != target:
            actual.setdefault(source, set()).add(target)
    assert _cycle(actual) is None, f"components import each other: {_cycle(actual)}"
    allowed = {source: set(targets) for source, targets in MAY_IMPORT.items()}
    assert _cycle(allowed) is None, f"the allowed arrows make a cycle: {_cycle(allowed)}"


def _literals(tree: ast.Module) -> Iterator[ast.Constant]:
    """String literals, f-strings' fixed parts included; docstrings left out."""
    docstrings = {
        id(node.value)
        for node in ast.walk(tree)
        if isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant)
    }
    for node in ast.walk(tree):
        if isinstance(node, ast.Constant) and isinstance(node.value, str):
            if id(node) in docstrings:
                continue
            yield node


def test_every_redis_key_is_built_in_redis_keys() -> None:
    offenders = [
        f"{path.relative_to(ROOT)}:{literal.lineno}: {literal.value!r}"
        for module, path, tree in sources()
        if module != KEYS_ONLY_IN
        for literal in _literals(tree)
        if _KEY_LIKE.search(str(literal.value))
    ]
    scripts = [*(ROOT / "messaging").rglob("*.lua"), *(ROOT / "dossier_link").rglob("*.lua")]
    offenders += [
        f"{path.relative_to(ROOT)}: a key in a script"
        for path in scripts
        if _KEY_LIKE.search(path.read_text())
    ]
    assert offenders == [], f"keys built outside {KEYS_ONLY_IN}:\n" + "\n".join(offenders)


def _documented_arrows() -> set[tuple[str, str]]:
    text = (ROOT / "docs" / "architecture.md").read_text()
    diagram = text.split("```mermaid", 1)[1].split("```", 1)[0]
    return set(re.findall(r"^\s*(\w+)\s*-->\s*(\w+)\s*$", diagram, re.MULTILINE))


def test_the_documented_diagram_is_the_rule() -> None:
    allowed = {(source, target) for source, targets in MAY_IMPORT.items() for target in targets}
    assert _documented_arrows() == allowed
