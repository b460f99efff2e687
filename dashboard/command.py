"""``cardpulse dashboard [--port N] [--host H]``: serve the Streamlit dashboard.

Streamlit runs in its own process group (``serve``), owned by the command that started it:
stopping that command (SIGTERM, SIGINT, SIGHUP) stops Streamlit, and killing it (SIGKILL) does
too (``pipelines.processes``), so no server keeps the port after its command is gone.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from pipelines.errors import CardPulseError
from pipelines.processes import Child, start

HELP = "serve the Streamlit dashboard (sign in with an account from `cardpulse users add`)"
# server.py serves app.py behind security headers (X-Frame-Options, CSP, closed metrics).
APP = Path(__file__).resolve().parent / "server.py"
DEFAULT_PORT = 8501
DEFAULT_HOST = "127.0.0.1"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--port", type=int, default=DEFAULT_PORT, help="port (default 8501)")
    parser.add_argument(
        "--host",
        default=DEFAULT_HOST,
        help="address to listen on (default 127.0.0.1; 0.0.0.0 to serve the network)",
    )


def streamlit_command(port: int, host: str, headless: bool = True) -> list[str]:
    """1. The app, 2. where to listen, 3. quiet production settings (no telemetry, no watcher,
    no tracebacks shown to users)."""
    return [
        sys.executable,
        "-m",
        "streamlit",
        "run",
        str(APP),
        f"--server.port={port}",
        f"--server.address={host}",
        f"--server.headless={'true' if headless else 'false'}",
        "--server.fileWatcherType=none",
        "--server.runOnSave=false",
        "--browser.gatherUsageStats=false",
        "--client.toolbarMode=minimal",
        "--client.showErrorDetails=none",
        "--theme.base=light",
    ]


def serve(port: int = DEFAULT_PORT, host: str = DEFAULT_HOST, headless: bool = True) -> Child:
    """Start the dashboard in its own process group and return the process (not waited on).

    ``process.supervise()`` waits and stops it on a signal; ``process.stop()`` (or
    ``os.killpg(process.pid, signal.SIGTERM)``) stops it. It dies with the caller in any case.
    ``$CARDPULSE_HOME`` is passed on as an absolute path so the server reads the same snapshot
    and users file as the caller.
    """
    if not 0 < port < 65536:
        raise CardPulseError(f"--port must be between 1 and 65535, not {port}")
    from pipelines.settings import home

    environment = dict(
        os.environ, CARDPULSE_HOME=str(home().root), STREAMLIT_BROWSER_GATHER_USAGE_STATS="false"
    )
    project = str(APP.parent.parent)
    environment["PYTHONPATH"] = os.pathsep.join(
        p for p in (project, environment.get("PYTHONPATH", "")) if p
    )
    return start(
        streamlit_command(port, host, headless),
        env=environment,
        cwd=str(home().root) if home().root.is_dir() else None,
    )


def run(args: argparse.Namespace) -> int:
    from dashboard.auth import UserStore
    from pipelines.settings import home

    paths = home()
    if not UserStore(paths.users_file).users():
        print(
            "cardpulse dashboard: no accounts yet; create one with "
            "`cardpulse users add NAME --role admin`",
            file=sys.stderr,
        )
    if not paths.snapshot.exists():
        print(
            "cardpulse dashboard: nothing published yet; run `cardpulse build` "
            "(the dashboard says so until then)",
            file=sys.stderr,
        )
    process = serve(args.port, args.host, headless=True)
    shown_host = "localhost" if args.host in ("127.0.0.1", "0.0.0.0") else args.host
    print(f"CardPulse dashboard: http://{shown_host}:{args.port}  (Ctrl-C to stop)", flush=True)
    return process.supervise()
