"""Every rule id of ``docs/rules.md`` (the map of RULES.md) is named by a test that goes
through the HTTP API against real Redis: the suites ``tests/test_dossier_rules_*.py``."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
RULE_ID = re.compile(r"\b(?:ID|CR|W|RD|EM|MK|HD|TR|MS)-[0-9]+\b")


def _mapped_rules() -> set[str]:
    table = (ROOT / "docs" / "rules.md").read_text(encoding="utf-8")
    return {m.group(1) for m in re.finditer(r"^\| ([A-Z]{1,2}-[0-9]+) \|", table, re.MULTILINE)}


def test_every_rule_of_the_map_is_named_by_an_http_test() -> None:
    """All 49 ids, from ID-1 to MS-3, each named in an HTTP rule suite."""
    mapped = _mapped_rules()
    assert len(mapped) == 49
    named: set[str] = set()
    for suite in sorted((ROOT / "tests").glob("test_dossier_rules_*.py")):
        named |= set(RULE_ID.findall(suite.read_text(encoding="utf-8")))
    assert sorted(mapped - named) == []
