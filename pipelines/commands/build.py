"""``cardpulse build``: run the whole Dagster job in this process and summarise it.

The run is recorded in the persistent Dagster instance at ``$CARDPULSE_HOME/dagster`` so it
shows in ``cardpulse ui``. While it runs, one line per finished step; Dagster's and dbt's own
logs stay in the run's event log, not on the terminal.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import os
import re
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TextIO

from pipelines.build_guard import fail_abandoned_runs, hold_build_lock, run_tags
from pipelines.errors import CardPulseError
from pipelines.ingest.health import health_line
from pipelines.settings import Home, home

HELP = (
    "run the whole build: ingest landing/, dbt models and tests, forecasts, restock plan, "
    "price recommendations, publish the dashboard snapshot"
)

JOB_NAME = "build"

# Every Dagster run of this installation waits its turn, and so does every step that opens the
# warehouse (pool "warehouse", which cardpulse build's in-process runs use too): DuckDB takes
# one writer.
DAGSTER_YAML = """\
# Written by cardpulse. Runs queue one at a time: the DuckDB warehouse takes one writer.
telemetry:
  enabled: false
concurrency:
  runs:
    max_concurrent_runs: 1
  pools:
    default_limit: 1
"""
# What earlier versions wrote: replaced by the above, being cardpulse's own.
_EARLIER_DAGSTER_YAML = DAGSTER_YAML.replace("  pools:\n    default_limit: 1\n", "")

_LOCK_PATTERN = re.compile(
    r"Could not set lock on file|Conflicting lock|in use by another process", re.IGNORECASE
)
_PID_PATTERN = re.compile(r"PID (\d+)")


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


@dataclass
class StepOutcome:
    """One step of the run (an asset, or a multi-asset such as the dbt project)."""

    step_key: str
    status: str  # success, failure, skipped
    seconds: float | None = None
    assets: int = 0


@dataclass
class BuildOutcome:
    """What the summary shows."""

    run_id: str
    succeeded: bool
    seconds: float
    steps: list[StepOutcome] = field(default_factory=list)
    row_counts: dict[str, int] = field(default_factory=dict)
    dbt_tests: dict[str, int] = field(default_factory=dict)
    dbt_failed_tests: list[str] = field(default_factory=list)
    dbt_warned_tests: list[str] = field(default_factory=list)  # "name (N rows)"
    snapshot: Path | None = None
    as_of: str | None = None
    failure_line: str = ""
    row_counts_error: str = ""
    quarantined: dict[str, int] = field(default_factory=dict)
    inferred: dict[str, int] = field(default_factory=dict)
    notifications: dict[str, int] = field(default_factory=dict)  # this build's, per status


def prepare_dagster_home(dagster_home: Path) -> None:
    """Point Dagster at ``dagster_home`` and give it a dagster.yaml if it has none."""
    dagster_home.mkdir(parents=True, exist_ok=True)
    config = dagster_home / "dagster.yaml"
    if not config.exists() or config.read_text(encoding="utf-8") == _EARLIER_DAGSTER_YAML:
        config.write_text(DAGSTER_YAML, encoding="utf-8")
    os.environ["DAGSTER_HOME"] = str(dagster_home)


def check_warehouse_ready(installation: Home) -> None:
    """Fail with one line when the build cannot start.

    1. Another process holds the warehouse (a build, an ingest, a Dagster run).
    2. Nothing was ever ingested and landing/ holds no files to ingest.
    """
    import duckdb

    from pipelines.sensors import landing_signatures

    orders = 0
    if installation.warehouse.exists():
        try:
            with duckdb.connect(str(installation.warehouse), read_only=True) as conn:
                orders = _order_count(conn)
        except duckdb.IOException as error:
            if _LOCK_PATTERN.search(str(error)):
                raise CardPulseError(locked_message(installation.warehouse, str(error))) from None
            raise CardPulseError(
                f"cannot open the warehouse {installation.warehouse}: {error}"
            ) from None
    landing_files = landing_signatures(installation.landing, time.time(), settle_seconds=0)
    if orders == 0 and not landing_files:
        raise CardPulseError(
            "nothing to build: the warehouse holds no orders; load an export first with "
            f"`cardpulse ingest PATH` (or drop files into {installation.landing})"
        )


def locked_message(warehouse: Path, error: str) -> str:
    """The one line shown when another process holds the warehouse."""
    pid = _PID_PATTERN.search(error)
    holder = f" (PID {pid.group(1)})" if pid else ""
    return (
        f"the warehouse {warehouse} is locked by another process{holder}; "
        "wait for that ingest or build to finish, then run again"
    )


def run_build(installation: Home, as_of: str = "") -> BuildOutcome:
    """Run the ``build`` job in-process against the installation's Dagster instance.

    1. Load the definitions (parses the dbt project first if its manifest is stale).
    2. Execute the job with the terminal silenced (dbt and Dagster logs still go to the run's
       compute logs), printing one line per finished step from the event log.
    3. Collect the outcome: steps, analytics row counts, dbt test results, snapshot.
    """
    _quiet_libraries()
    import dagster as dg

    from pipelines.definitions import build_definitions

    job = build_definitions(as_of=as_of).resolve_job_def(JOB_NAME)
    run_id = str(uuid.uuid4())
    started = time.monotonic()
    print(f"building {installation.root} (run {run_id[:8]}; full logs: `cardpulse ui`)", flush=True)
    with (
        dg.DagsterInstance.from_config(str(installation.dagster_home)) as instance,
        _terminal_silenced() as terminal,
    ):
        for line in fail_abandoned_runs(instance):
            print(line, file=terminal, flush=True)
        progress = _ProgressPrinter(instance, run_id, terminal)
        progress.start()
        try:
            result = job.execute_in_process(
                instance=instance,
                run_id=run_id,
                raise_on_error=False,
                run_config={"loggers": {"console": {"config": {"log_level": "CRITICAL"}}}},
                tags=run_tags(),
            )
        finally:
            progress.stop()
        outcome = BuildOutcome(
            run_id=run_id, succeeded=result.success, seconds=time.monotonic() - started
        )
        outcome.steps = _step_outcomes(instance, run_id, job)
        failure = _first_failure(instance, run_id)
    _add_results(outcome, installation)
    if not outcome.succeeded:
        outcome.failure_line = _failure_line(failure, outcome, installation)
    return outcome


@contextlib.contextmanager
def _terminal_silenced() -> Iterator[TextIO]:
    """Point file descriptors 1 and 2 at /dev/null for the duration; yield the real stdout.

    dagster-dbt writes every dbt log line to stdout and Dagster tees step output to the
    terminal; at the descriptor level this also quiets subprocesses, while the run's compute
    logs (what the UI shows) still receive everything.
    """
    sys.stdout.flush()
    sys.stderr.flush()
    saved_out, saved_err = os.dup(1), os.dup(2)
    terminal = os.fdopen(os.dup(saved_out), "w", buffering=1, encoding="utf-8")
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 1)
    os.dup2(devnull, 2)
    os.close(devnull)
    try:
        yield terminal
    finally:
        sys.stdout.flush()
        sys.stderr.flush()
        os.dup2(saved_out, 1)
        os.dup2(saved_err, 2)
        os.close(saved_out)
        os.close(saved_err)
        terminal.close()


def format_summary(outcome: BuildOutcome) -> str:
    """The one-screen summary printed at the end of ``cardpulse build``."""
    verdict = "succeeded" if outcome.succeeded else "FAILED"
    as_of = f", as of {outcome.as_of}" if outcome.as_of else ""
    lines = [f"build {outcome.run_id[:8]} {verdict} in {outcome.seconds:.1f} s{as_of}", "steps:"]
    width = max((len(s.step_key) for s in outcome.steps), default=10)
    for step in outcome.steps:
        seconds = f"{step.seconds:7.1f} s" if step.seconds is not None else "      -  "
        assets = f"  {step.assets} asset{'s' if step.assets != 1 else ''}" if step.assets else ""
        lines.append(f"  {step.step_key:<{width}}  {step.status:<8}{seconds}{assets}")
    if outcome.row_counts:
        where = "" if outcome.snapshot else " in the warehouse, not published"
        lines.append(f"analytics tables (rows{where}):")
        cells = [
            f"{name.removeprefix('analytics.')} {rows:,}"
            for name, rows in outcome.row_counts.items()
        ]
        cell_width = max(len(c) for c in cells) + 2
        per_line = max(1, 96 // cell_width)
        for start in range(0, len(cells), per_line):
            lines.append(
                "  "
                + "".join(c.ljust(cell_width) for c in cells[start : start + per_line]).rstrip()
            )
    if outcome.row_counts_error:
        lines.append(f"analytics tables: row counts unavailable ({outcome.row_counts_error})")
    if outcome.row_counts:
        lines.append("data: " + health_line(outcome.quarantined, outcome.inferred))
    if outcome.notifications:
        shown = ", ".join(f"{n} {status}" for status, n in outcome.notifications.items())
        lines.append(f"notifications recorded by this build: {shown} (cardpulse notify list)")
    lines.append("dbt tests: " + _tests_line(outcome))
    if outcome.snapshot:
        lines.append(f"snapshot: {outcome.snapshot}")
    else:
        lines.append("snapshot: not published (the previous one, if any, is unchanged)")
    return "\n".join(lines)


class _ProgressPrinter:
    """Prints one line per step as it finishes, reading the run's event log from a thread."""

    def __init__(self, instance, run_id: str, terminal: TextIO, interval: float = 0.2):
        self._instance, self._run_id, self._interval = instance, run_id, interval
        self._terminal = terminal
        self._cursor: str | None = None
        self._started_at: dict[str, float] = {}
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._done.set()
        self._thread.join()
        self._poll()  # the last steps' events

    def _loop(self) -> None:
        while not self._done.wait(self._interval):
            self._poll()

    def _poll(self) -> None:
        from dagster import DagsterEventType

        try:
            connection = self._instance.get_records_for_run(
                self._run_id,
                cursor=self._cursor,
                of_type={
                    DagsterEventType.STEP_START,
                    DagsterEventType.STEP_SUCCESS,
                    DagsterEventType.STEP_FAILURE,
                    DagsterEventType.STEP_SKIPPED,
                },
            )
        except Exception:  # the run is not stored yet
            return
        self._cursor = connection.cursor
        for record in connection.records:
            entry = record.event_log_entry
            event = entry.dagster_event
            step = event.step_key
            if event.event_type == DagsterEventType.STEP_START:
                self._started_at[step] = entry.timestamp
                continue
            status = {
                DagsterEventType.STEP_SUCCESS: "done",
                DagsterEventType.STEP_FAILURE: "FAILED",
                DagsterEventType.STEP_SKIPPED: "skipped",
            }[event.event_type]
            seconds = entry.timestamp - self._started_at.get(step, entry.timestamp)
            print(f"  {status:<7} {step} ({seconds:.1f} s)", file=self._terminal, flush=True)


def _step_outcomes(instance, run_id: str, job) -> list[StepOutcome]:
    """Every step of the job in the order they ran (steps that never ran last), with status,
    seconds and the number of assets each materialised."""
    from dagster import DagsterEventType

    stats = sorted(instance.get_run_step_stats(run_id), key=lambda s: s.start_time or 0)
    materialised: dict[str, int] = {}
    for record in instance.get_records_for_run(
        run_id, of_type=DagsterEventType.ASSET_MATERIALIZATION, limit=100_000
    ).records:
        step = record.event_log_entry.dagster_event.step_key
        materialised[step] = materialised.get(step, 0) + 1
    outcomes = []
    for stat in stats:
        seconds = stat.end_time - stat.start_time if stat.end_time and stat.start_time else None
        status = stat.status.value.lower() if stat.status else "unknown"
        outcomes.append(
            StepOutcome(stat.step_key, status, seconds, materialised.get(stat.step_key, 0))
        )
    ran = {stat.step_key for stat in stats}
    outcomes += [
        StepOutcome(node.name, "skipped")
        for node in job.graph.nodes_in_topological_order
        if node.name not in ran
    ]
    return outcomes


def _first_failure(instance, run_id: str):
    from dagster import DagsterEventType

    records = instance.get_records_for_run(
        run_id, of_type={DagsterEventType.STEP_FAILURE, DagsterEventType.RUN_FAILURE}, limit=10
    ).records
    return records[0].event_log_entry.dagster_event if records else None


def _add_results(outcome: BuildOutcome, installation: Home) -> None:
    """Row counts, dbt test results and the snapshot, from the files the run left behind."""
    import duckdb

    from pipelines.ingest.health import inferred_by_entity, quarantined_by_entity
    from pipelines.publish import analytics_row_counts, read_dbt_results
    from pipelines.resources import dbt_target_dir

    published = outcome.succeeded and installation.snapshot.exists()
    source = installation.snapshot if published else installation.warehouse
    if source.exists():
        try:
            with duckdb.connect(str(source), read_only=True) as conn:
                outcome.row_counts = {
                    name: rows
                    for name, rows in analytics_row_counts(conn).items()
                    if name not in ("analytics.build_info", "analytics.dbt_results")
                }
                outcome.quarantined = quarantined_by_entity(conn)
                outcome.inferred = inferred_by_entity(conn)
                outcome.notifications = _notifications(conn, outcome.run_id)
                if published:
                    row = conn.execute("SELECT as_of FROM analytics.build_info").fetchone()
                    outcome.as_of = str(row[0]) if row else None
        except duckdb.Error as error:  # shown, not fatal: the build itself is over
            outcome.row_counts = {}
            outcome.row_counts_error = str(error).splitlines()[0]
    if published:
        outcome.snapshot = installation.snapshot
    tests = [
        r
        for r in read_dbt_results(dbt_target_dir() / "run_results.json")
        if r.resource_type in ("test", "unit_test")
    ]
    for result in tests:
        outcome.dbt_tests[result.status] = outcome.dbt_tests.get(result.status, 0) + 1
    outcome.dbt_failed_tests = [r.name for r in tests if r.status in ("fail", "error")]
    outcome.dbt_warned_tests = [_test_label(r) for r in tests if r.status == "warn"]


def _notifications(conn, run_id: str) -> dict[str, int]:
    """Outbox rows this build recorded, per status (none when nothing is configured)."""
    present = conn.execute(
        "SELECT count(*) FROM information_schema.tables "
        "WHERE table_schema = 'ops' AND table_name = 'notify_outbox'"
    ).fetchone()[0]
    if not present:
        return {}
    rows = conn.execute(
        "SELECT status, count(*) FROM ops.notify_outbox WHERE batch_id = ? "
        "GROUP BY status ORDER BY count(*) DESC, status",
        [run_id],
    ).fetchall()
    return {status: int(n) for status, n in rows}


def _tests_line(outcome: BuildOutcome) -> str:
    """The counts, then one line per failed and per warned test, each named."""
    if not outcome.dbt_tests:
        return "not run"
    counts = outcome.dbt_tests
    line = (
        f"{counts.get('pass', 0)} passed, {counts.get('fail', 0) + counts.get('error', 0)} failed"
    )
    if counts.get("warn"):
        line += f", {counts['warn']} warned"
    if counts.get("skipped"):
        line += f", {counts['skipped']} skipped"
    named = [f"  failed: {name}" for name in outcome.dbt_failed_tests]
    named += [f"  warned: {label}" for label in outcome.dbt_warned_tests]
    return "\n".join([line, *named])


def _test_label(result) -> str:
    rows = result.failures
    return f"{result.name} ({rows} row{'s' if rows != 1 else ''})" if rows else result.name


def _failure_line(failure, outcome: BuildOutcome, installation: Home) -> str:
    """One line saying which step failed and why."""
    if failure is None:
        return "build failed (see `cardpulse ui` for the run's log)"
    step = failure.step_key or "run"
    error = getattr(failure.event_specific_data, "error", None)
    while error is not None and error.cause is not None:  # Dagster wraps the asset's own error
        error = error.cause
    message = error.message.strip() if error is not None and error.message else failure.message
    if error is not None and error.cls_name == "DagsterExecutionInterruptedError":
        return f"build stopped at {step} by SIGTERM or Ctrl-C; its run is marked failed"
    if _LOCK_PATTERN.search(message or ""):
        return locked_message(installation.warehouse, message)
    if outcome.dbt_failed_tests and "dbt" in (message or "").lower():
        return (
            f"build failed at {step}: {len(outcome.dbt_failed_tests)} dbt test(s) failed: "
            + ", ".join(outcome.dbt_failed_tests[:5])
        )
    first_line = (message or "").strip().splitlines()[0] if message else "unknown error"
    first_line = re.sub(r"^[\w.]*(Error|Failure|Exception):\s*", "", first_line)
    return f"build failed at {step}: {first_line}"


def _order_count(conn) -> int:
    present = conn.execute(
        "SELECT count(*) FROM information_schema.tables "
        "WHERE table_schema = 'raw' AND table_name = 'orders'"
    ).fetchone()[0]
    return conn.execute("SELECT count(*) FROM raw.orders").fetchone()[0] if present else 0


def _quiet_libraries() -> None:
    """Keep library chatter (deprecation and beta warnings, INFO logs) off the terminal."""
    import logging
    import warnings

    warnings.filterwarnings("ignore")
    for name in ("dagster", "dagster_dbt", "dagster-dbt", "dbt", "alembic", "cmdstanpy", "prophet"):
        logging.getLogger(name).setLevel(logging.ERROR)


def _iso_date(text: str) -> dt.date:
    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a date as YYYY-MM-DD, got {text!r}") from None
