"""Running the ``build`` job in this process: the Dagster home, the check that the warehouse
can be built, the run with the terminal silenced, its steps and its one failure line."""

from __future__ import annotations

import contextlib
import os
import re
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import TextIO

from pipelines.build_guard import fail_abandoned_runs, run_tags
from pipelines.commands.build_progress import ProgressPrinter
from pipelines.commands.build_summary import BuildOutcome, StepOutcome, add_results
from pipelines.errors import CardPulseError
from pipelines.settings import Home

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
        progress = ProgressPrinter(instance, run_id, terminal)
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
    add_results(outcome, installation)
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
