"""The ``cardpulse`` command.

Each subcommand lives in its own module exposing ``HELP``, ``add_arguments(parser)`` and
``run(args) -> int``. Those modules import heavy libraries (Dagster, dbt, Prophet) inside
``run`` so that ``cardpulse --help`` stays instant. A command whose module is not present is
not offered: the CLI shows only what works.
"""

from __future__ import annotations

import argparse
import importlib
import importlib.util
import signal
import sys

from pipelines.errors import CardPulseError

COMMANDS: dict[str, str] = {
    "demo": "pipelines.commands.demo",
    "generate": "pipelines.simulator.command",
    "ingest": "pipelines.ingest.command",
    "quarantine": "pipelines.ingest.quarantine_command",
    "build": "pipelines.commands.build",
    "dashboard": "dashboard.command",
    "users": "dashboard.users_command",
    "ui": "pipelines.commands.ui",
    "docs": "pipelines.commands.docs",
    "notify": "pipelines.notify.command",
}


def _available_commands() -> dict[str, object]:
    modules = {}
    for name, module_name in COMMANDS.items():
        try:
            found = importlib.util.find_spec(module_name) is not None
        except ModuleNotFoundError:
            found = False
        if found:
            modules[name] = importlib.import_module(module_name)
    return modules


def build_parser() -> tuple[argparse.ArgumentParser, dict[str, object]]:
    parser = argparse.ArgumentParser(
        prog="cardpulse",
        description="Analytics and demand forecasting for digital-goods (卡盟 / 发卡) platforms.",
    )
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    modules = _available_commands()
    for name, module in modules.items():
        sub = subparsers.add_parser(name, help=module.HELP, description=module.HELP)
        module.add_arguments(sub)
    return parser, modules


def main(argv: list[str] | None = None) -> int:
    parser, modules = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return 2
    try:
        return int(modules[args.command].run(args) or 0)
    except CardPulseError as error:
        print(f"cardpulse {args.command}: error: {error}", file=sys.stderr)
        return 1
    except KeyboardInterrupt as stop:
        # Ctrl-C, or a stop signal a long-running command turned into pipelines.processes.Stopped
        signum = getattr(stop, "signum", signal.SIGINT)
        name = signal.Signals(signum).name
        said = "interrupted" if signum == signal.SIGINT else f"stopped by {name}"
        print(f"cardpulse {args.command}: {said}", file=sys.stderr)
        return 128 + signum


if __name__ == "__main__":
    sys.exit(main())
