"""Issue 3's warehouse target: medium-scale ingest + dbt build in one run, on a fresh warehouse.

    .venv/bin/python bench/warehouse.py [--scale medium] [--fmt csv parquet] [--out DIR]

1. Generates the export once per format (``export_data.ensure_export``: reused while the
   simulator's code is unchanged).
2. In a child process: ``ingest_paths`` of the folder into a fresh warehouse.
3. In a child process: ``dbt build`` (models and data tests, as ``cardpulse build`` runs it)
   against that warehouse, after a ``dbt parse`` that is not timed (the build reads a prepared
   manifest, as Dagster does).
4. Prints each time, their sum (target <= 60 s) and each child's peak RSS.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

from export_data import ensure_export

ROOT = Path(__file__).resolve().parents[1]
DBT = [str(Path(sys.executable).with_name("dbt")), "--no-use-colors", "--quiet"]
DBT_DIRS = ["--project-dir", str(ROOT / "dbt_project"), "--profiles-dir", str(ROOT / "dbt_project")]

_INGEST = """
import json, resource, sys, time
from pipelines.ingest.load import ingest_paths
start = time.perf_counter()
results = ingest_paths(sys.argv[2], [sys.argv[1]])
print(json.dumps({"seconds": time.perf_counter() - start,
                  "peak_gib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / (1 << 20),
                  "orders": sum(r.loaded for r in results if r.entity == "orders"),
                  "failed": [r.summary_line() for r in results if r.error]}))
"""


def _peak_children_gib() -> float:
    import resource

    return resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / (1 << 20)


def measure(export: Path, work: Path) -> dict:
    """1. Fresh warehouse, 2. timed ingest child, 3. timed dbt build child."""
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    warehouse = work / "warehouse.duckdb"
    done = subprocess.run(
        [sys.executable, "-c", _INGEST, str(export), str(warehouse)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    )
    ingest = json.loads(done.stdout.strip().splitlines()[-1])
    env = dict(os.environ, CARDPULSE_WAREHOUSE=str(warehouse))
    target = ["--target-path", str(work / "dbt_target")]
    subprocess.run([*DBT, "parse", *DBT_DIRS, *target], env=env, check=True, cwd=ROOT)
    start = time.perf_counter()
    subprocess.run(
        [*DBT, "build", "--exclude-resource-type", "unit_test", *DBT_DIRS, *target],
        env=env,
        check=True,
        cwd=ROOT,
    )
    dbt_seconds = time.perf_counter() - start
    return {**ingest, "dbt_seconds": dbt_seconds, "dbt_peak_gib": _peak_children_gib()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scale", default="medium", choices=["small", "medium", "large"])
    parser.add_argument("--fmt", nargs="+", default=["csv", "parquet"])
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "out" / "warehouse")
    args = parser.parse_args()
    sys.path.insert(0, str(ROOT))
    for fmt in args.fmt:
        export = ensure_export(args.out / f"{args.scale}-{fmt}", args.scale, 0, fmt)
        figures = measure(export, args.out / f"{args.scale}-{fmt}-warehouse")
        total = figures["seconds"] + figures["dbt_seconds"]
        verdict = "OK" if total <= 60 else "MISSED"
        print(
            f"warehouse {args.scale} {fmt:<7} orders={figures['orders']:,} "
            f"ingest_s={figures['seconds']:.1f} dbt_build_s={figures['dbt_seconds']:.1f} "
            f"total_s={total:.1f} ingest_peak_rss={figures['peak_gib']:.2f} GiB "
            f"dbt_peak_rss<={figures['dbt_peak_gib']:.2f} GiB | target total<=60 s: {verdict}",
            flush=True,
        )
        if figures["failed"]:
            print("  files that failed:", *figures["failed"], sep="\n  ")


if __name__ == "__main__":
    main()
