"""The `teamgate` command as a whole: its help, its version, an unreachable database."""

from __future__ import annotations

import re
from importlib.metadata import version
from pathlib import Path

import pytest
import typer.main
from typer.core import TyperGroup
from typer.testing import CliRunner

import teamgate
from teamgate import cli
from tests.support.cli import teamgate_in_process

OPERATOR_COMMANDS = [
    ("accounts",), ("members",), ("invite",), ("remove",), ("set-role",), ("key", "create"),
    ("audit",),
]  # fmt: skip


def _commands(group: TyperGroup, path: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    found = []
    for name, command in group.commands.items():
        found.append((*path, name))
        if isinstance(command, TyperGroup):
            found += _commands(command, (*path, name))
    return found


ALL_COMMANDS = _commands(typer.main.get_group(cli.app))


def test_every_operator_command_is_there() -> None:
    assert set(OPERATOR_COMMANDS) <= set(ALL_COMMANDS)


@pytest.mark.parametrize("command", [(), *ALL_COMMANDS], ids=lambda c: " ".join(c) or "teamgate")
def test_help_shows_flags_as_plain_flags(command: tuple[str, ...]) -> None:
    result = CliRunner().invoke(cli.app, [*command, "--help"])

    assert result.exit_code == 0, result.output
    assert "--no-" not in result.output
    assert "<bool>" not in result.output  # a flag takes no value, and says none
    assert re.search(r"^  --help +Show this message", result.output, re.MULTILINE)


def test_the_json_flags_take_no_value() -> None:
    for command in (("account", "create"), ("key", "create")):
        shown = CliRunner().invoke(cli.app, [*command, "--help"], terminal_width=200).output
        assert "--json " in shown, command
        assert "--json/" not in shown


def test_version_prints_the_package_version() -> None:
    result = CliRunner().invoke(cli.app, ["--version"])

    assert result.exit_code == 0
    assert result.stdout == f"teamgate {version('teamgate')}\n"
    assert version("teamgate") == teamgate.__version__


async def test_an_unreachable_database_is_one_line_and_exit_1(tmp_path: Path) -> None:
    result = await teamgate_in_process(
        "postgresql://teamgate@127.0.0.1:1/teamgate", tmp_path, "members", "--account", "1"
    )

    assert result.exit_code == 1
    assert result.stderr.startswith(
        "Storage is unavailable (the database, or the rate-limit store): "
    )
    assert len(result.stderr.splitlines()) == 1
    assert result.stdout == ""
