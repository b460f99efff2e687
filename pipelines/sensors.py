"""The landing sensor: a file dropped into ``$CARDPULSE_HOME/landing/`` triggers a build.

The run is the whole ``build`` job with ``ingest_landing`` told which files are new, so the
new data reaches the marts, the forecasts and the dashboard's snapshot in one go.

What was loaded is the ingest ledger's to remember (``raw.file_ledger``, by content: a file it
already holds is a cheap no-op ingest). The cursor only holds a mark in time, so it stays the
same size however many files land: a file is new when it arrived after the mark, its arrival
being the later of its modification and inode-change times (a copy that keeps an old
modification time, ``cp -p`` or ``rsync -t``, still gets a new change time). Files that arrived
at or after the mark and were already requested are listed beside it; the mark stays
``SETTLE_SECONDS`` behind the clock (a file still being written is not passed over), so those
are the files of the last few seconds.
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from dataclasses import dataclass, field
from pathlib import Path

import dagster as dg

from pipelines.build_guard import fail_abandoned_runs
from pipelines.schedules import BUILD_JOB_NAME
from pipelines.settings import home

# A file modified more recently than this may still be being copied in: wait a tick.
SETTLE_SECONDS = 10.0


def landing_signatures(landing: Path, now: float, settle_seconds: float = SETTLE_SECONDS) -> dict:
    """Every settled file under ``landing`` as {relative path: "size:mtime_ns"}."""
    return {
        path: f"{stat.st_size}:{stat.st_mtime_ns}"
        for path, stat in landing_files(landing).items()
        if _settled(stat, now, settle_seconds)
    }


def landing_files(landing: Path) -> dict[str, os.stat_result]:
    """Every data file under ``landing``: {relative path: its stat}. Hidden (``.name``, partial
    uploads) and ``_name`` entries (ingest skips them too, e.g. the simulator's ``_truth/``) are
    not data."""
    if not landing.is_dir():
        return {}
    files = {}
    for path in sorted(landing.rglob("*")):
        relative = path.relative_to(landing)
        if not path.is_file() or any(part.startswith((".", "_")) for part in relative.parts):
            continue
        files[relative.as_posix()] = path.stat()
    return files


def arrival_ns(stat: os.stat_result) -> int:
    """When the file's present content arrived: its last modification or inode change."""
    return max(stat.st_mtime_ns, stat.st_ctime_ns)


def _settled(stat: os.stat_result, now: float, settle_seconds: float) -> bool:
    return stat.st_mtime <= now - settle_seconds  # modified recently: may still be copied in


@dataclass
class LandingCursor:
    """``mark``: files that arrived before it are not new. ``seen``: files already requested
    that arrived at or after it, {path: arrival_ns}."""

    mark: int = 0
    seen: dict[str, int] = field(default_factory=dict)

    @classmethod
    def parse(cls, text: str | None, files: dict[str, os.stat_result]) -> LandingCursor:
        if not text:
            return cls()
        stored = json.loads(text)
        if "mark" in stored and isinstance(stored.get("seen"), dict):
            return cls(int(stored["mark"]), {k: int(v) for k, v in stored["seen"].items()})
        # An earlier version's cursor, {path: "size:mtime_ns"} of every file ever seen: the
        # files it names unchanged are seen, at their arrival now.
        return cls(0, {
            path: arrival_ns(stat)
            for path, stat in files.items()
            if stored.get(path) == f"{stat.st_size}:{stat.st_mtime_ns}"
        })  # fmt: skip

    def new_files(self, files: dict[str, os.stat_result], now: float, settle: float) -> list[str]:
        """Settled files that arrived at or after the mark and were not requested as they are."""
        return [
            path
            for path, stat in files.items()
            if _settled(stat, now, settle)
            and arrival_ns(stat) >= self.mark
            and self.seen.get(path) != arrival_ns(stat)
        ]

    def advanced(
        self, requested: list[str], files: dict[str, os.stat_result], now: float, settle: float
    ) -> LandingCursor:
        """1. Add the requested files to ``seen``, 2. move the mark up to the latest arrival
        among them, but no later than ``settle`` seconds ago (a file arriving after that may
        still be being written), 3. forget what arrived before the mark."""
        seen = {**self.seen, **{path: arrival_ns(files[path]) for path in requested}}
        mark = min(max([self.mark, *seen.values()]), int((now - settle) * 1e9))
        return LandingCursor(mark, {path: t for path, t in seen.items() if t >= mark})

    def dump(self) -> str:
        return json.dumps({"mark": self.mark, "seen": self.seen}, sort_keys=True)


@dg.sensor(
    name="landing_sensor",
    job_name=BUILD_JOB_NAME,
    minimum_interval_seconds=30,
    default_status=dg.DefaultSensorStatus.RUNNING,
    description="New files in $CARDPULSE_HOME/landing/ -> ingest them, then build and publish.",
)
def landing_sensor(context: dg.SensorEvaluationContext) -> dg.SensorResult | dg.SkipReason:
    """0. Fail runs left started by a killed ``cardpulse build`` (they would hold the warehouse
    pool and keep every queued run waiting), 1. list landing files, 2. keep the settled ones
    that arrived since the cursor's mark and were not requested yet, 3. request one build,
    4. advance the mark."""
    _fail_abandoned_builds(context)
    landing = home().landing
    now = time.time()
    files = landing_files(landing)
    cursor = LandingCursor.parse(context.cursor, files)
    new = sorted(cursor.new_files(files, now, SETTLE_SECONDS))
    if not new:
        return dg.SkipReason(f"no new files in {landing}")
    run_key = hashlib.sha256(
        json.dumps({path: arrival_ns(files[path]) for path in new}, sort_keys=True).encode()
    ).hexdigest()[:16]
    return dg.SensorResult(
        run_requests=[
            dg.RunRequest(
                run_key=run_key,
                run_config={
                    "ops": {
                        "ingest_landing": {"config": {"paths": [str(landing / p) for p in new]}}
                    }
                },
                tags={"cardpulse/trigger": "landing_sensor", "cardpulse/new_files": len(new)},
            )
        ],
        cursor=cursor.advanced(new, files, now, SETTLE_SECONDS).dump(),
    )


def _fail_abandoned_builds(context: dg.SensorEvaluationContext) -> None:
    """The daemon evaluates this sensor every 30 s: it is what frees a schedule or sensor run
    queued behind a build that was killed while no other build started."""
    try:
        instance = context.instance
    except dg.DagsterInvariantViolationError:
        return  # evaluated without an instance (a direct call)
    for line in fail_abandoned_runs(instance):
        context.log.warning(line)


@dg.run_failure_sensor(
    name="build_failure_alert",
    default_status=dg.DefaultSensorStatus.RUNNING,
    description="When a build run fails (schedule, landing sensor or the UI), sends the "
    "build_failed alert where cardpulse.toml routes it (docs/notify.md).",
)
def build_failure_alert(context: dg.RunFailureSensorContext) -> None:
    """Runs of ``cardpulse build`` send their own alert; the outbox key (the run id) makes a
    second attempt from here a no-op."""
    if context.dagster_run.job_name != BUILD_JOB_NAME:
        return
    from pipelines.errors import CardPulseError
    from pipelines.notify.dispatch import notify_build_failed

    message = (context.failure_event.message or "build failed").strip().splitlines()[0]
    try:
        line = notify_build_failed(home().warehouse, context.dagster_run.run_id, message)
    except CardPulseError as error:
        line = f"notifications: not sent: {error}"
    if line:
        context.log.info(line)
