"""`cardpulse ui --log-level`: the terminal gets Dagster's logs at the chosen level, and what runs
print (dbt's every line) goes to a file and the run's compute logs (issue #24, item 5)."""

from __future__ import annotations

import io
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import dagster as dg
import pytest
from test_build import write_tiny_platform

from pipelines.commands.ui import RUN_OUTPUT, forward_logs

PROJECT = Path(__file__).resolve().parent.parent

LOG = (
    b"/site-packages/click/core.py:911: SupersessionWarning: dev_command is superseded\n"
    b"2026-12-06 01:50:06 +0000 - dagster - DEBUG - build - b255c84c - 18493 - RUN_START - go\n"
    b"2026-12-06 01:50:07 +0000 - dagster - INFO - build - b255c84c - ingest_landing - 3 rows\n"
    b"2026-12-06 01:50:08 +0000 - dagster - WARNING - build - b255c84c - a check warned\n"
    b"\x1b[31m2026-12-06 01:50:09 +0000 - dagster - ERROR - build - b255c84c - step failed\x1b[0m\n"
    b"Traceback (most recent call last):\n"
    b'  File "x.py", line 1, in <module>\n'
    b"2026-12-06 01:50:10 +0000 - dagster_dbt - INFO - dbt said something\n"
    b"    more of the INFO record\n"
)


def forwarded(level: str) -> list[str]:
    sink = io.BytesIO()
    forward_logs(io.BytesIO(LOG), sink, level)
    return sink.getvalue().decode().splitlines()


def test_log_lines_below_the_level_are_dropped_with_their_continuation_lines():
    shown = forwarded("warning")
    assert [line.split(" - ")[2] for line in shown if " - dagster" in line] == [
        "WARNING",
        "ERROR",
    ]
    assert "Traceback (most recent call last):" in shown  # goes with its ERROR record
    assert "    more of the INFO record" not in shown
    assert shown[0].endswith("dev_command is superseded")  # before any record: shown


def test_debug_shows_everything_and_critical_nothing_but_other_lines():
    assert len(forwarded("debug")) == len(LOG.splitlines())
    assert forwarded("critical") == [LOG.splitlines()[0].decode()]


@pytest.mark.slow
def test_a_sensor_run_under_the_ui_prints_no_debug_logs_nor_dbt_output(tmp_path):
    write_tiny_platform(tmp_path / "landing")
    an_hour_ago = time.time() - 3600  # settled: the sensor takes them at its first tick
    for path in (tmp_path / "landing").rglob("*"):
        os.utime(path, (an_hour_ago, an_hour_ago))
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    ui = subprocess.Popen(
        [sys.executable, "-m", "pipelines.cli", "ui", "--port", str(port)],
        cwd=PROJECT,
        env=dict(os.environ, CARDPULSE_HOME=str(tmp_path)),
        stdout=(tmp_path / "out.log").open("wb"),
        stderr=(tmp_path / "err.log").open("wb"),
    )
    try:
        run = wait_for_finished_run(tmp_path / "dagster", ui, timeout=900)
    finally:
        ui.send_signal(signal.SIGTERM)
        ui.wait(timeout=60)
    assert run.status == dg.DagsterRunStatus.SUCCESS
    terminal = (tmp_path / "out.log").read_text() + (tmp_path / "err.log").read_text()
    assert " - DEBUG - " not in terminal and " - INFO - " not in terminal, terminal[-2000:]
    assert "START sql" not in terminal
    assert "START sql" in (tmp_path / "dagster" / RUN_OUTPUT).read_text()
    assert terminal.splitlines()[-1] == "cardpulse ui: stopped by SIGTERM"


def wait_for_finished_run(dagster_home: Path, ui: subprocess.Popen, timeout: float):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert ui.poll() is None, f"cardpulse ui exited with {ui.returncode}"
        if (dagster_home / "dagster.yaml").exists():
            with dg.DagsterInstance.from_config(str(dagster_home)) as instance:
                finished = [run for run in instance.get_runs() if run.is_finished]
            if finished:
                return finished[0]
        time.sleep(2)
    raise TimeoutError(f"no finished run after {timeout} s")
