"""``cardpulse demo``: a realistic demo platform, end to end, in one command.

It is the other commands in a row, each with its own output: generate into the landing
folder, ingest it, build everything, then serve the dashboard with one account per role.
Running it again changes nothing: the same seed writes the same bytes, and the file ledger
skips files it has already loaded.
"""

from __future__ import annotations

import argparse
import importlib
import sys

from pipelines.errors import CardPulseError

HELP = (
    "generate a realistic demo platform into the landing folder, ingest it, build everything, "
    "then serve the dashboard and print its URL"
)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--scale",
        choices=["small", "medium", "large"],
        default="small",
        help="demo size: small ~50k orders (default), medium ~2M, large ~20M",
    )
    parser.add_argument("--seed", type=int, default=0, help="simulator seed (default 0)")
    parser.add_argument(
        "--no-dashboard", action="store_true", help="stop after the build; do not serve"
    )
    parser.add_argument("--port", type=int, default=8501, help="dashboard port (default 8501)")


def _run_command(module_name: str, argv: list[str]) -> None:
    """Run another subcommand as if typed, so its checks and output are the same."""
    module = importlib.import_module(module_name)
    parser = argparse.ArgumentParser(prog=f"cardpulse {module_name.rsplit('.', 1)[-1]}")
    module.add_arguments(parser)
    status = module.run(parser.parse_args(argv))
    if status:
        raise CardPulseError(f"stopped: `cardpulse {' '.join(argv)}` step failed (exit {status})")


def run(args: argparse.Namespace) -> int:
    from pipelines.settings import home

    installation = home().ensure()
    print(f"== 1/4 generate a {args.scale} demo platform into {installation.landing}", flush=True)
    _run_command(
        "pipelines.simulator.command",
        ["--out", str(installation.landing), "--scale", args.scale, "--seed", str(args.seed)],
    )
    print(f"\n== 2/4 ingest {installation.landing}", flush=True)
    _run_command("pipelines.ingest.command", [str(installation.landing)])
    print("\n== 3/4 build: dbt models and tests, forecasts, plans, prices, publish", flush=True)
    _run_command("pipelines.commands.build", [])
    if args.no_dashboard:
        print("\nDone. Serve the dashboard any time with `cardpulse dashboard`.")
        return 0
    return _serve_dashboard(installation, args.port)


def _serve_dashboard(installation, port: int) -> int:
    from dashboard.command import serve
    from dashboard.users_command import ensure_demo_users

    print("\n== 4/4 dashboard", flush=True)
    accounts = ensure_demo_users(installation)
    process = serve(port=port)
    print(f"CardPulse dashboard: http://localhost:{port}   (Ctrl-C to stop)")
    print("Demo accounts (passwords are new each run):")
    for name, role, password, merchant_id in accounts:
        scope = f"  merchant {merchant_id} and its agents" if merchant_id else ""
        print(f"  {name:<14} {role:<9} {password}{scope}")
    sys.stdout.flush()
    return process.supervise()
