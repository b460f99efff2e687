"""What a build did: its outcome (steps, row counts, dbt tests, snapshot, notifications) and
the one-screen summary ``cardpulse build`` prints at the end."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from pipelines.ingest.health import health_line
from pipelines.settings import Home


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


def add_results(outcome: BuildOutcome, installation: Home) -> None:
    """Row counts, dbt test results and the snapshot, from the files the run left behind."""
    import duckdb

    from pipelines.ingest.health import inferred_by_entity, quarantined_by_entity
    from pipelines.resources import dbt_target_dir
    from pipelines.snapshot_writer import analytics_row_counts, read_dbt_results

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
