"""``cardpulse build`` with ``[engine] dbt_target = "spark"``: dbt on Spark inside the Dagster job.

dbt-spark's ``session`` method uses the Spark session of the process dbt runs in, and Dagster
runs dbt as a subprocess whose JSON log lines it turns into asset and check events. So the
subprocess is this module (``python -m pipelines.spark_dbt <dbt args>``, behind a small
executable ``dbt_executable`` script written under ``$CARDPULSE_HOME/spark``): it starts the
Spark session of the engine settings, registers the lake (``pipelines.spark_build``), then runs
dbt in the same process with the arguments Dagster gave. dbt's artifacts and logs go where
Dagster said (``DBT_TARGET_PATH``, ``DBT_LOG_FORMAT=json``), as with the ``dbt`` executable.

After it, ``copy_marts_to_duckdb`` brings every mart Spark built into the DuckDB warehouse's
schema ``analytics`` (read from the tables' Parquet files, typed by the models' contracts):
forecasting, restock, pricing and the published snapshot read them there, on one machine.
"""

from __future__ import annotations

import os
import stat
import sys
from pathlib import Path

from pipelines.engine import EngineSettings


def write_executable(root: Path) -> Path:
    """The ``dbt`` stand-in Dagster runs: this Python, this module (rewritten each build)."""
    root.mkdir(parents=True, exist_ok=True)
    script = root / "dbt-on-spark"
    script.write_text(f'#!/bin/sh\nexec "{sys.executable}" -m pipelines.spark_dbt "$@"\n')
    script.chmod(script.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)
    return script


def spark_table_dir(root: Path, schema: str, table: str) -> Path:
    """Where Spark keeps a managed table of ``schema`` under ``root`` (``spark_dirs``)."""
    return Path(root) / "warehouse" / f"{schema}.db" / table


def copy_marts_to_duckdb(conn, root: Path, marts: dict[str, list[tuple[str, str]]]) -> dict:
    """Replace ``analytics.<mart>`` in the DuckDB warehouse with Spark's table of that name.

    ``marts``: name -> the contract's (column, DuckDB type). The table is created with those
    types, then filled by name from the Parquet files (``order_date=`` folders of partitioned
    tables become the column); a table without files is left empty. All in one transaction.
    Returns rows per mart."""
    counts = {}
    conn.execute("CREATE SCHEMA IF NOT EXISTS analytics")
    conn.execute("BEGIN TRANSACTION")
    try:
        for name, columns in marts.items():
            table = f'analytics."{name}"'
            ddl = ", ".join(f'"{column}" {kind}' for column, kind in columns)
            conn.execute(f"DROP VIEW IF EXISTS {table}")
            conn.execute(f"CREATE OR REPLACE TABLE {table} ({ddl})")
            folder = spark_table_dir(root, "analytics", name)
            if any(folder.rglob("*.parquet")):
                pattern = str(folder / "**" / "*.parquet").replace("'", "''")
                conn.execute(
                    f"INSERT INTO {table} BY NAME SELECT * FROM "
                    f"read_parquet('{pattern}', hive_partitioning = true)"
                )
            counts[name] = conn.execute(f"SELECT count(*) FROM {table}").fetchone()[0]
        conn.execute("COMMIT")
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    return counts


def main(argv: list[str] | None = None) -> int:
    """Run ``dbt <argv>`` in this process on the engine's Spark session; dbt's exit code."""
    from dbt.cli.main import dbtRunner

    from pipelines.engine import load_engine_settings
    from pipelines.settings import home
    from pipelines.spark_build import register_lake, spark_session

    argv = list(sys.argv[1:] if argv is None else argv)
    if argv == ["--version"]:
        result = dbtRunner().invoke(argv)
        return 0 if result.success else 2
    settings: EngineSettings = load_engine_settings()
    root = home().root / "spark"
    spark = spark_session(settings, root)
    register_lake(spark, settings.lake)
    os.environ["CARDPULSE_SPARK_DIR"] = str(root)
    try:
        result = dbtRunner().invoke(argv)
    finally:
        spark.stop()
    if result.success:
        return 0
    return 2 if result.exception is not None else 1


if __name__ == "__main__":
    sys.exit(main())
