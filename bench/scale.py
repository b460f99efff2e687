"""Issue 21, past one machine: DuckDB vs Spark local[2], full vs daily, in one run side by side.

    .venv/bin/python bench/scale.py [--scale small|medium|large] [--out DIR] [--skip-spark]
                                    [--builds-only] [--refit-days N]

1. Generates the export (reused while the simulator's code is unchanged) and splits off its
   last day of orders.
2. Each stage runs in a child process (its seconds and peak memory are its own):
   ingest with the raw lake on; ``dbt run`` on DuckDB; ``dbt run`` on Spark local[2] from the
   lake; the forecast fan-out (``forecast_demand``) on local processes and as a Spark job;
   then the last day lands: its ingest and the incremental ``dbt run`` on DuckDB.
3. Prints seconds, peak memory (resident, summed over the stage's processes: Python, dbt,
   the JVM) and rows/s per core for each stage: the inputs of docs/scale.md's capacity model.
4. Side by side, the real ``cardpulse build`` (ingest, dbt build with tests, forecasts, restock,
   pricing, publish) from nothing on the export without its last day, then again after the
   last day lands: wall and CPU seconds of each and their ratio (issue 21's daily build target
   is 20%), with ``[engine] forecast_refit_days`` = ``--refit-days`` (7). ``--builds-only``
   runs this part alone.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import time
from pathlib import Path

from export_data import ensure_export

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
CORES = 2  # local[2], two forecast workers, DuckDB's threads: this machine's two cores


def _vm_hwm_kib(pid: int) -> int:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


def _descendants(pid: int) -> list[int]:
    found = []
    for task in Path(f"/proc/{pid}/task").glob("*"):
        try:
            children = (task / "children").read_text().split()
        except OSError:
            continue
        for child in map(int, children):
            found += [child, *_descendants(child)]
    return found


def peak_gib() -> float:
    """This process's peak RSS, plus its living children's (the JVM), plus finished ones'."""
    living = sum(_vm_hwm_kib(p) for p in _descendants(os.getpid()))
    finished = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    return (_vm_hwm_kib(os.getpid()) + living + finished) / (1 << 20)


# --- stages (each runs in its own child process) -------------------------------------------


def stage_ingest(args) -> dict:
    from pipelines.ingest.load import ingest_paths

    started = time.perf_counter()
    results = ingest_paths(args.warehouse, [args.paths], lake_path=args.lake)
    seconds = time.perf_counter() - started
    failed = [r.summary_line() for r in results if r.error]
    if failed:
        raise SystemExit(f"ingest failed: {failed[:3]}")
    return {"seconds": seconds, "rows": sum(r.rows_read for r in results)}


def _orders(warehouse: str) -> int:
    import duckdb

    conn = duckdb.connect(warehouse, read_only=True)
    try:
        return conn.execute("SELECT count(*) FROM raw.orders").fetchone()[0]
    finally:
        conn.close()


def stage_dbt_duckdb(args) -> dict:
    env = dict(os.environ, CARDPULSE_WAREHOUSE=args.warehouse)
    dirs = ["--project-dir", str(ROOT / "dbt_project"), "--profiles-dir", str(ROOT / "dbt_project")]
    dbt = str(Path(sys.executable).with_name("dbt"))
    target = ["--target-path", args.target_path]
    subprocess.run([dbt, "parse", "--quiet", *dirs, *target], env=env, check=True)
    started = time.perf_counter()
    subprocess.run([dbt, "run", "--quiet", *dirs, *target], env=env, check=True)
    return {"seconds": time.perf_counter() - started, "rows": _orders(args.warehouse)}


def stage_dbt_spark(args) -> dict:
    from pipelines.engine import EngineSettings
    from pipelines.spark_build import run_dbt, spark_session

    settings = EngineSettings(lake=Path(args.lake), dbt_target="spark")
    spark_session(settings, Path(args.spark_dir))  # started before the clock: a cluster runs
    started = time.perf_counter()
    run_dbt(settings, Path(args.spark_dir), ["run"], target_path=Path(args.target_path))
    return {"seconds": time.perf_counter() - started, "rows": _orders(args.warehouse)}


def stage_forecast(args) -> dict:
    import duckdb

    from forecasting.demand.inputs import load_demand_inputs
    from forecasting.demand.pipeline import forecast_demand
    from pipelines.engine import EngineSettings

    conn = duckdb.connect(args.warehouse, read_only=True)
    try:
        as_of = conn.execute("SELECT max(order_date) FROM analytics.fct_orders").fetchone()[0]
        inputs = load_demand_inputs(conn, as_of)
    finally:
        conn.close()
    spark = None
    if args.executor == "spark":
        from pipelines.spark_build import spark_session

        spark = spark_session(EngineSettings(), Path(args.spark_dir))
    started = time.perf_counter()
    tables = forecast_demand(inputs, as_of, workers=CORES, spark=spark)
    seconds = time.perf_counter() - started
    return {"seconds": seconds, "rows": len(tables.results)}


def run_build(home: Path, label: str) -> dict:
    """``cardpulse build`` on the installation at ``home`` (its landing/ holds the new files):
    wall and CPU seconds (this child and everything it started), its steps' seconds.

    Its output and dbt's run_results.json are kept beside ``home`` as ``<label>.log`` and
    ``<label>.run_results.json`` (per-model seconds: where a build's time goes)."""
    import re

    env = dict(os.environ, CARDPULSE_HOME=str(home))
    cardpulse = str(Path(sys.executable).with_name("cardpulse"))
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    done = subprocess.run([cardpulse, "build"], env=env, capture_output=True, text=True)
    seconds = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    (home.parent / f"{label}.log").write_text(done.stdout + done.stderr)
    run_results = home / "dbt_target" / "run_results.json"
    if run_results.exists():
        shutil.copyfile(run_results, home.parent / f"{label}.run_results.json")
    if done.returncode:
        raise SystemExit(f"cardpulse build failed:\n{(done.stdout + done.stderr)[-3000:]}")
    steps = {
        m.group(1): float(m.group(2))
        for m in re.finditer(r"^  (\w+)\s+success\s+([\d.]+) s", done.stdout, re.MULTILINE)
    }
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return {"seconds": seconds, "cpu": cpu, "steps": steps, "peak_gib": after.ru_maxrss / (1 << 20)}


def builds(out: Path, refit_days: int) -> None:
    """The whole ``cardpulse build`` from nothing, then after one more day lands: side by side.

    Files are hard-linked into the installation's landing/ (ingest reads real files, the
    export stays as it is); ``[engine] forecast_refit_days`` is set for both builds."""
    home = out / "home"
    shutil.rmtree(home, ignore_errors=True)
    (home / "landing").mkdir(parents=True)
    (home / "cardpulse.toml").write_text(f"[engine]\nforecast_refit_days = {refit_days}\n")
    for path in sorted((out / "base").glob("*.*")):
        os.link(path.resolve(), home / "landing" / path.name)
    print(f"cardpulse build, full ({home})", flush=True)
    full = run_build(home, "full")
    for path in sorted((out / "day").glob("*.*")):
        os.link(path.resolve(), home / "landing" / path.name)
    print("cardpulse build, one more day", flush=True)
    daily = run_build(home, "daily")
    print()
    names = list(dict.fromkeys([*full["steps"], *daily["steps"]]))
    print(f"{'cardpulse build step':28} {'full s':>8} {'daily s':>8}")
    for name in names:
        f, d = full["steps"].get(name), daily["steps"].get(name)
        print(f"{name:28} {f if f is not None else float('nan'):8.1f} "
              f"{d if d is not None else float('nan'):8.1f}")  # fmt: skip
    for label, unit in (("wall", "seconds"), ("CPU", "cpu")):
        print(
            f"daily build vs full build, {label}: {daily[unit]:.1f} s vs {full[unit]:.1f} s = "
            f"{100 * daily[unit] / full[unit]:.0f}% (target <= 20%; "
            f"forecast_refit_days = {refit_days}, peak RSS of one process "
            f"{max(full['peak_gib'], daily['peak_gib']):.2f} GiB)"
        )


STAGES = {
    "ingest": stage_ingest,
    "dbt-duckdb": stage_dbt_duckdb,
    "dbt-spark": stage_dbt_spark,
    "forecast": stage_forecast,
}


def run_stage(name: str, **options) -> dict:
    """Run one stage in a child process; its JSON line back, with the child's peak memory."""
    command = [sys.executable, __file__, "--stage", name]
    for key, value in options.items():
        command += [f"--{key.replace('_', '-')}", str(value)]
    done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True)
    if done.returncode:
        tail = (done.stderr or done.stdout).strip().splitlines()[-5:]
        raise SystemExit(f"stage {name} failed:\n" + "\n".join(tail))
    return json.loads(done.stdout.strip().splitlines()[-1])


# --- the run --------------------------------------------------------------------------------


def split_last_day(export: Path, base: Path, day: Path) -> str:
    """``base``: the export without its last day of orders; ``day``: that day's orders."""
    import duckdb

    for folder in (base, day):
        shutil.rmtree(folder, ignore_errors=True)
        folder.mkdir(parents=True)
    orders = sorted(export.glob("orders*"))
    last_file = orders[-1]
    conn = duckdb.connect()
    source = f"read_parquet('{last_file}')"
    last_day = conn.execute(f"SELECT max(CAST(created_at AS DATE)) FROM {source}").fetchone()[0]
    for path in export.iterdir():
        if path.is_file() and path != last_file:
            (base / path.name).symlink_to(path.resolve())
    conn.execute(
        f"""COPY (SELECT * FROM {source} WHERE CAST(created_at AS DATE) < DATE '{last_day}')
            TO '{base / last_file.name}' (FORMAT parquet)"""
    )
    conn.execute(
        f"""COPY (SELECT * FROM {source} WHERE CAST(created_at AS DATE) = DATE '{last_day}')
            TO '{day / f"orders_{last_day}.parquet"}' (FORMAT parquet)"""
    )
    conn.close()
    return str(last_day)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--stage", choices=STAGES)
    parser.add_argument("--scale", default="small", choices=("small", "medium", "large"))
    parser.add_argument("--out", default=None)
    parser.add_argument("--skip-spark", action="store_true")
    parser.add_argument(
        "--builds-only",
        action="store_true",
        help="only the full vs daily `cardpulse build` comparison (issue 21 item 4)",
    )
    parser.add_argument("--refit-days", type=int, default=7, help="engine.forecast_refit_days")
    for option in ("paths", "warehouse", "lake", "target-path", "spark-dir", "executor"):
        parser.add_argument(f"--{option}")
    args = parser.parse_args()
    if args.stage:
        figures = STAGES[args.stage](args)
        figures["peak_gib"] = peak_gib()
        print(json.dumps(figures))
        return

    out = Path(args.out or ROOT / "data" / "bench-scale" / args.scale)
    export = ensure_export(out / "export", args.scale, 0, "parquet")
    last_day = split_last_day(export, out / "base", out / "day")
    if args.builds_only:
        print(f"bench/scale.py --scale {args.scale} --builds-only: last day {last_day}")
        builds(out, args.refit_days)
        return
    work = out / "work"
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir()
    warehouse, lake, spark_dir = work / "warehouse.duckdb", work / "lake", work / "spark"
    common = {"warehouse": warehouse, "lake": lake}

    rows: list[tuple[str, dict]] = []

    def stage(label: str, name: str, **options) -> dict:
        figures = run_stage(name, **options)
        rows.append((label, figures))
        print(f"  {label}: {figures['seconds']:.1f} s", flush=True)
        return figures

    print(f"bench/scale.py --scale {args.scale}: base export, then the last day ({last_day})")
    stage("ingest, full (lake on)", "ingest", paths=out / "base", **common)
    full_dbt = stage("dbt run, DuckDB, full", "dbt-duckdb", target_path=work / "t-duck", **common)
    if not args.skip_spark:
        stage(
            "dbt run, Spark local[2], full", "dbt-spark",
            target_path=work / "t-spark", spark_dir=spark_dir, **common,
        )  # fmt: skip
    stage("forecast fan-out, 2 processes", "forecast", executor="processes", **common)
    if not args.skip_spark:
        stage(
            "forecast fan-out, Spark local[2]", "forecast",
            executor="spark", spark_dir=spark_dir, **common,
        )  # fmt: skip
    day_ingest = stage("ingest, one more day", "ingest", paths=out / "day", **common)
    day_dbt = stage(
        "dbt run, DuckDB, incremental day", "dbt-duckdb", target_path=work / "t-duck", **common
    )

    print()
    print(f"{'stage':38} {'seconds':>8} {'peak GiB':>9} {'rows':>11} {'rows/s/core':>12}")
    for label, f in rows:
        per_core = f["rows"] / f["seconds"] / CORES if f["seconds"] else 0
        unit = "series" if label.startswith("forecast") else "rows"
        print(
            f"{label:38} {f['seconds']:8.1f} {f['peak_gib']:9.2f} {f['rows']:>11,} "
            + (f"{per_core:12.3f}  (series/s/core)" if unit == "series" else f"{per_core:12,.1f}")
        )
    daily = day_ingest["seconds"] + day_dbt["seconds"]
    print(
        f"daily (ingest + dbt) vs full dbt run on DuckDB: {daily:.1f} s vs "
        f"{full_dbt['seconds']:.1f} s = {100 * daily / full_dbt['seconds']:.0f}% "
        "(forecast refit and snapshot not in this figure)"
    )
    print()
    builds(out, args.refit_days)


if __name__ == "__main__":
    main()
