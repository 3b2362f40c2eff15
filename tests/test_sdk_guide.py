"""docs/sdk.md runs: its ``python`` blocks, in order and in one namespace, against a real server
(the test app on a real port, a private Redis), as a reader pasting them into ``python -m
asyncio`` would run them. A guide that no longer matches the SDK fails here (issue 9)."""

from __future__ import annotations

import ast
import inspect
import re
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient
from aiohttp.web import Application, Request

from tests.conftest import ADMIN_TOKEN

GUIDE = Path(__file__).resolve().parent.parent / "docs" / "sdk.md"
_BLOCK = re.compile(r"^```python\n(.*?)^```", re.DOTALL | re.MULTILINE)


def _blocks() -> list[tuple[int, str]]:
    """Each ``python`` block of the guide with the line it starts on."""
    text = GUIDE.read_text(encoding="utf-8")
    return [(text.count("\n", 0, m.start()) + 2, m.group(1)) for m in _BLOCK.finditer(text)]


async def test_every_python_block_of_the_sdk_guide_runs_against_a_server(
    client: TestClient[Request, Application],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("LIAISON_SERVER", str(client.make_url("")).rstrip("/"))
    monkeypatch.setenv("LIAISON_ADMIN_TOKEN", ADMIN_TOKEN)
    monkeypatch.chdir(tmp_path)  # the guide writes its key files under the working directory
    blocks = _blocks()
    assert len(blocks) >= 10
    namespace: dict[str, Any] = {"__name__": "sdk_guide"}
    for line, source in blocks:
        code = compile(source, f"{GUIDE.name}:{line}", "exec", flags=ast.PyCF_ALLOW_TOP_LEVEL_AWAIT)
        result = eval(code, namespace)  # noqa: S307 - the repository's own guide
        if inspect.iscoroutine(result):
            await result
    # The last block closed every client the guide opened.
    assert all(c._session is None for c in (namespace["alice"], namespace["bruno"]))
