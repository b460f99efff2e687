"""``cardpulse build``: check cardpulse.toml, run the whole Dagster job in this process, summarise.

The parts: ``build_run`` (the Dagster home, the warehouse check, the in-process run and its
failure line), ``build_progress`` (one line per finished step while it runs) and
``build_summary`` (the outcome and the one-screen summary). The run is recorded in the
persistent Dagster instance at ``$CARDPULSE_HOME/dagster`` so it shows in ``cardpulse ui``.
"""

from __future__ import annotations

import argparse
import datetime as dt

from pipelines.build_guard import hold_build_lock
from pipelines.commands.build_run import check_warehouse_ready, prepare_dagster_home, run_build
from pipelines.commands.build_summary import BuildOutcome, format_summary
from pipelines.errors import CardPulseError
from pipelines.settings import Home, home

HELP = (
    "run the whole build: ingest landing/, dbt models and tests, forecasts, restock plan, "
    "price recommendations, publish the dashboard snapshot"
)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--as-of",
        metavar="YYYY-MM-DD",
        type=_iso_date,
        default=None,
        help='"today" for forecasting (default: the day after the last order)',
    )


def check_settings(installation) -> None:
    """Every section of cardpulse.toml checked before anything runs (``load_settings``, plus
    the notify routes against the registered alert kinds); one line per bad key, all at once."""
    from pipelines.notify.dispatch import load_config

    load_config(installation)


def run(args: argparse.Namespace) -> int:
    """1. Check cardpulse.toml, be the only build, 2. check the warehouse can be built, 3. run
    the job with progress, 4. summarise."""
    installation = home().ensure()
    check_settings(installation)  # a bad cardpulse.toml stops here, one line per bad key
    with hold_build_lock(installation):
        prepare_dagster_home(installation.dagster_home)
        check_warehouse_ready(installation)
        outcome = run_build(installation, as_of=args.as_of.isoformat() if args.as_of else "")
    print(format_summary(outcome))
    if not outcome.succeeded:
        notified = _notify_failure(installation, outcome)
        if notified:
            print(notified)
        raise CardPulseError(outcome.failure_line)
    return 0


def _notify_failure(installation: Home, outcome: BuildOutcome) -> str:
    """Send the ``build_failed`` alert where cardpulse.toml routes it (a bad config or an
    unreachable channel is reported, never hides the build's own failure line)."""
    from pipelines.notify.dispatch import notify_build_failed

    try:
        return notify_build_failed(installation.warehouse, outcome.run_id, outcome.failure_line)
    except CardPulseError as error:
        return f"notifications: not sent: {error}"


def _iso_date(text: str) -> dt.date:
    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a date as YYYY-MM-DD, got {text!r}") from None
