"""The `cardpulse` command itself: help, unknown commands, user errors as one line."""

from __future__ import annotations

import subprocess
import sys

from pipelines import cli
from pipelines.errors import CardPulseError


def run_cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "pipelines.cli", *args], capture_output=True, text=True, timeout=120
    )


def test_help_lists_only_commands_whose_modules_exist():
    parser, modules = cli.build_parser()
    help_text = parser.format_help()
    for name in modules:
        assert name in help_text
    for name in set(cli.COMMANDS) - set(modules):
        assert f"    {name} " not in help_text


def test_unknown_command_exits_non_zero_without_traceback():
    result = run_cli("no-such-command")
    assert result.returncode != 0
    assert "Traceback" not in result.stderr
    assert "invalid choice" in result.stderr


def test_no_command_prints_help_and_exits_2():
    result = run_cli()
    assert result.returncode == 2
    assert "usage: cardpulse" in result.stdout


def test_user_error_becomes_one_line(monkeypatch, capsys):
    class Failing:
        HELP = "always fails"

        @staticmethod
        def add_arguments(parser):
            pass

        @staticmethod
        def run(args):
            raise CardPulseError("the warehouse is locked by another process")

    monkeypatch.setattr(cli, "_available_commands", lambda: {"failing": Failing})
    assert cli.main(["failing"]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert err == ["cardpulse failing: error: the warehouse is locked by another process"]
