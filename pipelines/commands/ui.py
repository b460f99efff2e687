"""``cardpulse ui``: serve the Dagster UI (webserver + daemon) on this project.

It runs ``dagster dev`` on ``pipelines.definitions`` with ``DAGSTER_HOME`` at
``$CARDPULSE_HOME/dagster``: the runs of ``cardpulse build`` show there, and while it runs the
daemon evaluates the landing sensor and the 02:00 schedule. ``dagster dev`` and everything it
spawns (webserver, daemon, code servers, runs) stop with the command (``pipelines.processes``).
"""

from __future__ import annotations

import argparse
import os
import socket
import sys
from pathlib import Path

from pipelines.errors import CardPulseError
from pipelines.processes import start
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
    print(
        f"Dagster UI for {installation.root}: http://{args.host}:{args.port}  (Ctrl+C stops)",
        flush=True,
    )
    # dagster dev takes SIGTERM as Ctrl+C: it stops its webserver and daemon, which get it too.
    return start(command, cwd=REPO_ROOT, env=env).supervise()


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
