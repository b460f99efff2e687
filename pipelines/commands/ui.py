"""``cardpulse ui``: serve the Dagster UI (webserver + daemon) on this project.

It runs ``dagster dev`` on ``pipelines.definitions`` with ``DAGSTER_HOME`` at
``$CARDPULSE_HOME/dagster``: the runs of ``cardpulse build`` show there, and while it runs the
daemon evaluates the landing sensor and the 02:00 schedule.
"""

from __future__ import annotations

import argparse
import os
import signal
import socket
import subprocess
import sys
from pathlib import Path

from pipelines.errors import CardPulseError
from pipelines.settings import home

HELP = "serve the Dagster UI for this project (runs, assets, landing sensor, daily schedule)"

REPO_ROOT = Path(__file__).resolve().parents[2]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on")
    parser.add_argument("--port", type=int, default=3000, help="port to listen on")


def run(args: argparse.Namespace) -> int:
    """1. Prepare Dagster's home and the dbt manifest, 2. serve until interrupted."""
    from pipelines.commands.build import prepare_dagster_home

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
        "warning",
    ]
    print(f"Dagster UI for {installation.root}: http://{args.host}:{args.port}  (Ctrl+C stops)")
    # Started in the background, a process may inherit SIGINT ignored, and dagster dev would
    # inherit that too; a Python handler here gives the child the default disposition back.
    signal.signal(signal.SIGINT, signal.default_int_handler)
    server = subprocess.Popen(command, cwd=REPO_ROOT, env=env)
    # Stopped by SIGTERM (a service manager, `kill`): stop dagster dev the way Ctrl+C does.
    signal.signal(signal.SIGTERM, lambda *_: _interrupt(server))
    try:
        return server.wait()
    except KeyboardInterrupt:
        # Ctrl+C reached dagster dev too: let it stop its webserver and daemon.
        _stop(server)
        raise


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


def _interrupt(server: subprocess.Popen) -> None:
    if server.poll() is None:
        server.send_signal(signal.SIGINT)


def _stop(server: subprocess.Popen) -> None:
    try:
        server.wait(timeout=15)
    except subprocess.TimeoutExpired:
        server.send_signal(signal.SIGTERM)
        try:
            server.wait(timeout=10)
        except subprocess.TimeoutExpired:
            server.kill()
