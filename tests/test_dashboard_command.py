"""`cardpulse dashboard` as a subprocess: flags and one-line errors (serving is covered by
tests/test_browser_dashboard.py through `serve`)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from dashboard.command import streamlit_command

PROJECT = Path(__file__).resolve().parent.parent


def cardpulse(home: Path, *args: str) -> subprocess.CompletedProcess:
    env = dict(os.environ, CARDPULSE_HOME=str(home))
    return subprocess.run(
        [sys.executable, "-m", "pipelines.cli", *args],
        cwd=PROJECT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_bad_port_is_a_one_line_error(tmp_path):
    result = cardpulse(tmp_path, "dashboard", "--port", "70000")
    assert result.returncode == 1
    lines = result.stderr.strip().splitlines()
    assert lines[-1] == "cardpulse dashboard: error: --port must be between 1 and 65535, not 70000"
    assert "Traceback" not in result.stderr


def test_help_names_the_flags(tmp_path):
    result = cardpulse(tmp_path, "dashboard", "--help")
    assert result.returncode == 0
    assert "--port" in result.stdout and "--host" in result.stdout


def test_streamlit_is_started_quietly_on_the_given_address():
    command = streamlit_command(8600, "0.0.0.0")
    assert command[1:4] == ["-m", "streamlit", "run"]
    assert command[4].endswith("dashboard/server.py")
    assert {
        "--server.port=8600",
        "--server.address=0.0.0.0",
        "--server.headless=true",
        "--browser.gatherUsageStats=false",
        "--client.showErrorDetails=none",
    } <= set(command)
