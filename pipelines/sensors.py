"""The landing sensor: a file dropped into ``$CARDPULSE_HOME/landing/`` triggers a build.

The run is the whole ``build`` job with ``ingest_landing`` told which files are new, so the
new data reaches the marts, the forecasts and the dashboard's snapshot in one go. The cursor
remembers every file by path, size and modification time: a file is picked up once, and again
only when its content is replaced. (A file the ledger already holds is a cheap no-op ingest.)
"""

from __future__ import annotations

import hashlib
import json
import time
from pathlib import Path

import dagster as dg

from pipelines.schedules import BUILD_JOB_NAME
from pipelines.settings import home

# A file modified more recently than this may still be being copied in: wait a tick.
SETTLE_SECONDS = 10.0


def landing_signatures(landing: Path, now: float, settle_seconds: float = SETTLE_SECONDS) -> dict:
    """Every settled file under ``landing`` as {relative path: "size:mtime_ns"}.

    1. Walk the folder; hidden (``.name``, partial uploads) and ``_name`` entries (ingest skips
       them too, e.g. the simulator's ``_truth/``) are not data.
    2. Leave out files modified in the last ``settle_seconds``.
    """
    if not landing.is_dir():
        return {}
    signatures = {}
    for path in sorted(landing.rglob("*")):
        relative = path.relative_to(landing)
        if not path.is_file() or any(part.startswith((".", "_")) for part in relative.parts):
            continue
        stat = path.stat()
        if stat.st_mtime > now - settle_seconds:
            continue
        signatures[relative.as_posix()] = f"{stat.st_size}:{stat.st_mtime_ns}"
    return signatures


@dg.sensor(
    name="landing_sensor",
    job_name=BUILD_JOB_NAME,
    minimum_interval_seconds=30,
    default_status=dg.DefaultSensorStatus.RUNNING,
    description="New files in $CARDPULSE_HOME/landing/ -> ingest them, then build and publish.",
)
def landing_sensor(context: dg.SensorEvaluationContext) -> dg.SensorResult | dg.SkipReason:
    """1. List settled landing files, 2. keep those not in the cursor, 3. request one build."""
    landing = home().landing
    seen = json.loads(context.cursor) if context.cursor else {}
    current = landing_signatures(landing, time.time())
    new = sorted(path for path, signature in current.items() if seen.get(path) != signature)
    if not new:
        return dg.SkipReason(f"no new files in {landing}")
    run_key = hashlib.sha256(
        json.dumps({path: current[path] for path in new}, sort_keys=True).encode()
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
        cursor=json.dumps({**seen, **current}, sort_keys=True),
    )
