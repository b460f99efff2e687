"""``cardpulse ui``: serve the Dagster UI (webserver + daemon) on this project.

It runs ``dagster dev`` on ``pipelines.definitions`` with ``DAGSTER_HOME`` at
``$CARDPULSE_HOME/dagster``: the runs of ``cardpulse build`` show there, and while it runs the
daemon evaluates the landing sensor and the 02:00 schedule. ``dagster dev`` and everything it
spawns (webserver, daemon, code servers, runs) stop with the command (``pipelines.processes``).
"""

from __future__ import annotations

import argparse
import os
import re
import socket
import subprocess
import sys
import threading
from pathlib import Path
from typing import BinaryIO

from pipelines.errors import CardPulseError
from pipelines.processes import start
from pipelines.settings import home

HELP = "serve the Dagster UI for this project (runs, assets, landing sensor, daily schedule)"
LOG_LEVELS = ["critical", "error", "warning", "info", "debug"]
# What runs print, under $CARDPULSE_HOME/dagster, below --log-level debug.
RUN_OUTPUT = "ui-run-output.log"
_LOG_LINE = re.compile(rb"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d [+-]\d{4} - [\w.-]+ - ([A-Z]+) - ")
_ANSI = re.compile(rb"\x1b\[[0-9;]*m")
_LEVELS = {"DEBUG": 10, "INFO": 20, "WARN": 30, "WARNING": 30, "ERROR": 40, "CRITICAL": 50}

REPO_ROOT = Path(__file__).resolve().parents[2]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on")
    parser.add_argument("--port", type=int, default=3000, help="port to listen on")
    parser.add_argument(
        "--log-level",
        choices=LOG_LEVELS,
        default="warning",
        help="what reaches the terminal, from Dagster's services and from runs (default warning; "
        "below debug, run output such as dbt's goes only to the run's compute logs in the UI)",
    )


def run(args: argparse.Namespace) -> int:
    """1. Prepare Dagster's home and the dbt manifest, 2. serve until interrupted."""
    from pipelines.commands.build_run import prepare_dagster_home

    installation = home().ensure()
    prepare_dagster_home(installation.dagster_home)
    _check_port_free(args.host, args.port)
    _prepare_dbt_manifest()
    env = {
        **os.environ,
        "CARDPULSE_HOME": str(installation.root),
        "DAGSTER_HOME": str(installation.dagster_home),
    }
    command = [
        *dagster_command(),
        "dev",
        "-m",
        "pipelines.definitions",
        "--host",
        args.host,
        "--port",
        str(args.port),
        "--log-level",
        args.log_level,
        "--code-server-log-level",
        args.log_level,
    ]
    print(
        f"Dagster UI for {installation.root}: http://{args.host}:{args.port}  (Ctrl+C stops)",
        flush=True,
    )
    if args.log_level == "debug":  # everything, as dagster dev prints it
        return start(command, cwd=REPO_ROOT, env=env).supervise()
    # Runs print to standard output (dbt's every line, through dagster-dbt): to a file, as the
    # UI shows each step's output in its compute logs anyway. Their logs come on standard error
    # at DEBUG whatever dagster dev's --log-level says (a run without logger config gets
    # Dagster's default console logger): filtered here to the chosen level.
    with (installation.dagster_home / RUN_OUTPUT).open("ab") as run_output:
        server = start(command, cwd=REPO_ROOT, env=env, stdout=run_output, stderr=subprocess.PIPE)
    forwarder = threading.Thread(
        target=forward_logs, args=(server.stderr, sys.stderr.buffer, args.log_level), daemon=True
    )
    forwarder.start()
    try:
        # dagster dev takes SIGTERM as Ctrl+C: it stops its webserver and daemon, which get it
        # too.
        return server.supervise()
    finally:
        forwarder.join(timeout=2)


def forward_logs(source: BinaryIO, sink: BinaryIO, log_level: str) -> None:
    """Copy Dagster's log lines at ``log_level`` or above from ``source`` to ``sink``.

    A line in Dagster's log format (``2026-01-02 03:04:05 +0000 - dagster - INFO - ...``)
    starts a record; the lines after it that are not records go with it (a traceback, a message
    on several lines). Lines before the first record (start-up warnings) are copied.
    """
    threshold = _LEVELS[log_level.upper()]
    showing, writable = True, True
    for line in source:  # read to the end whatever happens, or dagster dev would block
        record = _LOG_LINE.match(_ANSI.sub(b"", line))
        if record:
            showing = _LEVELS.get(record.group(1).decode(), threshold) >= threshold
        if showing and writable:
            try:
                sink.write(line)
                sink.flush()
            except OSError:  # the terminal is gone
                writable = False


def dagster_command() -> list[str]:
    """The ``dagster`` CLI of this Python environment."""
    beside_python = Path(sys.executable).parent / "dagster"
    if beside_python.exists():
        return [str(beside_python)]
    return [sys.executable, "-m", "dagster"]


def _prepare_dbt_manifest() -> None:
    # Parse once here rather than racing in dagster dev's code server processes.
    from pipelines.resources import dbt_project

    dbt_project()


def _check_port_free(host: str, port: int) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError as error:
            raise CardPulseError(
                f"cannot serve on {host}:{port} ({error.strerror}); choose another with --port"
            ) from None
