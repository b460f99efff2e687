"""``cardpulse docs [--port 8080] [--host 127.0.0.1]``: the dbt docs of this installation.

1. ``dbt docs generate`` against ``$CARDPULSE_HOME/warehouse.duckdb`` (so the catalog has the
   real column types and row counts), writing to ``$CARDPULSE_HOME/dbt-docs``, never into the
   project's own ``target/`` (whose manifest Dagster reads). It holds the build lock meanwhile:
   dbt opens the warehouse for writing, and DuckDB takes one writer, so a running build makes
   the command stop at once with the build's pid, and a build waits for no docs run.
2. Serves the three files the docs site needs (``index.html``, ``manifest.json``,
   ``catalog.json``) and nothing else of the folder, until SIGTERM, SIGINT or SIGHUP, which
   close the socket and exit 0.
"""

from __future__ import annotations

import argparse
import functools
import os
import signal
import subprocess
import sys
import threading
from http import HTTPStatus
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from pipelines.errors import CardPulseError

HELP = "generate the dbt docs for this installation's warehouse and serve them"
DEFAULT_PORT = 8080
SERVED_FILES = ("index.html", "manifest.json", "catalog.json")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--port", type=int, default=DEFAULT_PORT, help="port (default 8080)")
    parser.add_argument("--host", default="127.0.0.1", help="address (default 127.0.0.1)")
    parser.add_argument(
        "--generate-only",
        action="store_true",
        help="write the docs to $CARDPULSE_HOME/dbt-docs and exit without serving",
    )


def generate(installation) -> Path:
    """Run ``dbt docs generate`` on the installation's warehouse; returns the folder."""
    from pipelines.build_guard import hold_build_lock
    from pipelines.processes import start
    from pipelines.resources import DBT_PROJECT_DIR, dbt_executable

    if not installation.warehouse.exists():
        raise CardPulseError(
            f"no warehouse at {installation.warehouse}: run `cardpulse build` first"
        )
    target = installation.root / "dbt-docs"
    command = [
        dbt_executable(),
        "docs",
        "generate",
        "--project-dir",
        str(DBT_PROJECT_DIR),
        "--profiles-dir",
        str(DBT_PROJECT_DIR),
        "--target-path",
        str(target),
        "--log-path",
        str(target / "logs"),
        "--quiet",
    ]
    environment = dict(os.environ, CARDPULSE_WAREHOUSE=str(installation.warehouse))
    with hold_build_lock(installation):
        child = start(
            command,
            env=environment,
            cwd=str(DBT_PROJECT_DIR),
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
        )
        output, _ = child.communicate()
        status = child.wait()
    if status != 0 or not all((target / name).exists() for name in SERVED_FILES):
        lines = [line for line in output.decode(errors="replace").splitlines() if line.strip()]
        raise CardPulseError(
            f"dbt docs generate failed (exit {status}): {lines[-1] if lines else 'no output'}"
        )
    return target


class _DocsHandler(SimpleHTTPRequestHandler):
    """Only the docs site's files; everything else (logs, compiled SQL) is 404."""

    def do_GET(self) -> None:  # noqa: N802 - the http.server naming
        path = self.path.split("?", 1)[0].lstrip("/") or "index.html"
        if path not in SERVED_FILES:
            self.send_error(HTTPStatus.NOT_FOUND)
            return
        self.path = "/" + path
        super().do_GET()

    def do_HEAD(self) -> None:  # noqa: N802
        self.do_GET()

    def log_message(self, format: str, *args) -> None:  # noqa: A002 - quiet by default
        pass


def serve(folder: Path, host: str, port: int) -> ThreadingHTTPServer:
    """A server for the docs folder, bound and ready (``serve_forever`` not yet called)."""
    try:
        return ThreadingHTTPServer(
            (host, port), functools.partial(_DocsHandler, directory=str(folder))
        )
    except OSError as error:
        raise CardPulseError(f"cannot listen on {host}:{port}: {error.strerror}") from error


def run(args: argparse.Namespace) -> int:
    from pipelines.settings import home

    if not 0 < args.port < 65536:
        raise CardPulseError(f"--port must be between 1 and 65535, not {args.port}")
    installation = home()
    if installation.warehouse.exists():
        print(f"cardpulse docs: generating dbt docs for {installation.warehouse} ...", flush=True)
    folder = generate(installation)
    if args.generate_only:
        print(f"cardpulse docs: written to {folder}", flush=True)
        return 0
    server = serve(folder, args.host, args.port)
    shown = "localhost" if args.host in ("127.0.0.1", "0.0.0.0") else args.host
    print(f"dbt docs: http://{shown}:{args.port}  (Ctrl-C to stop)", flush=True)

    def stop(_signum, _frame) -> None:
        # shutdown() waits for serve_forever to return: call it off the serving thread.
        threading.Thread(target=server.shutdown, daemon=True).start()

    for signum in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        signal.signal(signum, stop)
    try:
        server.serve_forever()
    finally:
        server.server_close()
    print("cardpulse docs: stopped", file=sys.stderr, flush=True)
    return 0
