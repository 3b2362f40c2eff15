"""Settings read for a person at a terminal: one line per invalid variable, naming it and what
it expects (exit code 2), and a warning for every ``LIAISON_*`` variable nothing reads."""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest

from messaging.cli import main
from messaging.config import (
    READ_ELSEWHERE,
    SettingsError,
    known_variables,
    load,
    unknown_variables,
)

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """Only the variables a test sets: none of the machine's own ``LIAISON_*``."""
    for name in list(os.environ):
        if name.startswith("LIAISON_"):
            monkeypatch.delenv(name)


def _lines(monkeypatch: pytest.MonkeyPatch, **variables: str) -> list[str]:
    for name, value in variables.items():
        monkeypatch.setenv(name, value)
    with pytest.raises(SettingsError) as raised:
        load()
    return raised.value.lines


def test_a_port_that_is_not_a_number_is_one_line_naming_the_variable(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    assert _lines(monkeypatch, LIAISON_PORT="abc") == [
        "LIAISON_PORT='abc': expected an integer >= 0 and <= 65535"
    ]


def test_a_redis_url_that_is_not_one_is_named_without_repeating_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    [line] = _lines(monkeypatch, LIAISON_REDIS_URL="notaurl")
    assert line.startswith("LIAISON_REDIS_URL: expected a URL redis://")
    # A Redis URL may carry a password: an invalid one is never echoed.
    [line] = _lines(monkeypatch, LIAISON_REDIS_URL="redis://:hunter2@redis:63x9/0")
    assert line.startswith("LIAISON_REDIS_URL: the port of the Redis URL")
    assert "hunter2" not in line


def test_each_invalid_setting_is_its_own_line(monkeypatch: pytest.MonkeyPatch) -> None:
    lines = _lines(
        monkeypatch,
        LIAISON_QUEUE_QUOTA="0",
        LIAISON_DOSSIER_REGIME="maybe",
        LIAISON_LOG_FORMAT="xml",
    )
    assert lines == [
        "LIAISON_QUEUE_QUOTA='0': expected an integer >= 1",
        "LIAISON_DOSSIER_REGIME='maybe': expected one of express, opt_out",
        "LIAISON_LOG_FORMAT='xml': expected one of text, json",
    ]


def test_a_command_line_option_is_named_beside_its_variable() -> None:
    with pytest.raises(SettingsError) as raised:
        load({"port": 70000}, flags={"port": "--port", "host": "--host"})
    assert raised.value.lines == ["--port (LIAISON_PORT): expected an integer >= 0 and <= 65535"]


def test_log_settings_accept_either_case(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LIAISON_LOG_FORMAT", "JSON")
    monkeypatch.setenv("LIAISON_LOG_LEVEL", "Warning")
    settings = load()
    assert (settings.log_format, settings.log_level) == ("json", "warning")


def test_a_misspelt_variable_is_warned_about_with_the_closest_name() -> None:
    environ = {"LIAISON_PROT": "9000", "LIAISON_PORT": "9001", "LIAISON_ZZZ": "1", "PATH": "/"}
    assert unknown_variables(environ) == [
        "LIAISON_PROT is not a Liaison setting (did you mean LIAISON_PORT?); it is ignored",
        "LIAISON_ZZZ is not a Liaison setting; it is ignored",
    ]


def test_every_liaison_variable_the_repository_names_is_known() -> None:
    """A new variable read anywhere (server, CLI, tests, container) must be a setting or be
    listed in ``READ_ELSEWHERE``, or it would be warned about as unknown."""
    named: set[str] = set()
    for path in [
        *ROOT.glob("messaging/**/*.py"),
        *ROOT.glob("dossier_link/**/*.py"),
        *ROOT.glob("tests/**/*.py"),
        *ROOT.glob("docs/*.md"),
        ROOT / "README.md",
        ROOT / "Dockerfile",
        ROOT / "docker-compose.yml",
        ROOT / ".ci" / "run",
    ]:
        # This file spells unknown names on purpose.
        if "node_modules" not in path.parts and path != Path(__file__).resolve():
            named |= set(re.findall(r"\bLIAISON_[A-Z][A-Z0-9_]*[A-Z0-9]\b", path.read_text()))
    assert named - known_variables() == set()
    assert set(READ_ELSEWHERE) <= named


def test_serve_with_an_invalid_setting_exits_2_with_one_line(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("LIAISON_PORT", "abc")

    assert main(["serve"]) == 2

    captured = capsys.readouterr()
    assert captured.err == "error: LIAISON_PORT='abc': expected an integer >= 0 and <= 65535\n"
    assert captured.out == ""


def test_every_command_warns_about_unknown_variables(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    monkeypatch.setenv("LIAISON_SERVR", "http://127.0.0.1:1")

    main(["devices", "--key-file", str(tmp_path / "absent.json")])

    err = capsys.readouterr().err.splitlines()
    assert err[0] == (
        "warning: LIAISON_SERVR is not a Liaison setting (did you mean LIAISON_SERVER?); "
        "it is ignored"
    )
    assert err[1].startswith("error: no_key_file: ")
