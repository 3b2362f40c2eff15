"""The browser client's files (``index.html``, ``src/``) and its third-party assets.

The sources are plain ES modules served as they are: no bundler, no build step. The only
third-party code is libsodium (``libsodium-wrappers-sumo`` from npm, pinned by
``package-lock.json``; axe-core is a development dependency of the browser tests). Nothing
third-party is committed: ``npm ci`` installs it into ``node_modules/`` beside this file, and
``ensure_installed`` runs it when the modules are missing or differ from the lockfile, so
``liaison serve`` and the tests set the client up on a fresh clone.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Final

WEB_ROOT: Final = Path(__file__).resolve().parent
INSTALL_HINT: Final = "cd messaging/web && npm ci"


@dataclass(frozen=True, slots=True)
class Vendored:
    """A third-party file the client imports, served under ``/app/vendor/<name>``."""

    name: str
    package: str
    path: str


# The ESM builds of the "sumo" variant, the one with crypto_pwhash (Argon2id): the standard build
# leaves it out. libsodium-wrappers imports "libsodium-sumo" by its bare name, which the server
# rewrites to the sibling file (see ``messaging.server.webapp``): an import map would be an inline
# script, which the Content-Security-Policy forbids.
VENDORED: Final = (
    Vendored(
        "libsodium-wrappers.mjs",
        "libsodium-wrappers-sumo",
        "dist/modules-sumo-esm/libsodium-wrappers.mjs",
    ),
    Vendored("libsodium.mjs", "libsodium-sumo", "dist/modules-sumo-esm/libsodium-sumo.mjs"),
)


class AssetsMissing(Exception):
    """The npm packages are not installed (or differ from the lockfile) and cannot be."""


def _locked_versions(root: Path, dev: bool) -> dict[str, str]:
    lock = json.loads((root / "package-lock.json").read_text(encoding="utf-8"))
    return {
        path.removeprefix("node_modules/"): str(entry["version"])
        for path, entry in lock["packages"].items()
        if path.startswith("node_modules/") and (dev or not entry.get("dev", False))
    }


def stale_packages(root: Path = WEB_ROOT, *, dev: bool = False) -> list[str]:
    """Locked packages absent from ``node_modules`` or installed at another version; the
    development ones (axe-core, for the tests) only with ``dev``."""
    stale = []
    for package, version in sorted(_locked_versions(root, dev).items()):
        manifest = root / "node_modules" / package / "package.json"
        try:
            installed = json.loads(manifest.read_text(encoding="utf-8")).get("version")
        except (OSError, ValueError):
            installed = None
        if installed != version:
            stale.append(package)
    return stale


def ensure_installed(
    say: Callable[[str], None], root: Path = WEB_ROOT, *, dev: bool = False
) -> None:
    """Run ``npm ci`` when a locked package is missing or stale; raise ``AssetsMissing`` when it
    is needed and cannot run (no npm, no network, a read-only install)."""
    if not stale_packages(root, dev=dev):
        return
    npm = shutil.which("npm")
    if npm is None:
        raise AssetsMissing(f"the web client needs npm to install its assets: {INSTALL_HINT}")
    say(f"liaison: installing the web client's assets (npm ci in {root})")
    result = subprocess.run(
        [npm, "ci", "--no-audit", "--no-fund", "--loglevel=error"],
        cwd=root,
        capture_output=True,
        text=True,
        check=False,
    )
    if result.returncode != 0 or stale_packages(root, dev=dev):
        detail = (result.stderr or result.stdout).strip().splitlines()[-3:]
        raise AssetsMissing(f"npm ci failed in {root}: {' '.join(detail)}")
