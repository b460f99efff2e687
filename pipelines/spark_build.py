"""The dbt project on Spark: the lake registered as the ``raw`` sources, then dbt in-process.

dbt-spark's ``session`` method uses the Spark session of the process it runs in, so the lake's
tables are registered in that session and dbt runs through ``dbtRunner`` in the same process:

1. ``raw_lake.<entity>``: an external Parquet table over ``<lake>/<entity>`` (partitioned by
   ``day``), its schema the warehouse's raw DDL (``pipelines/ingest/schema.py``), so an entity
   without files yet is an empty table, not an error;
2. ``raw.<entity>``: a view of its current rows, as ``raw.<entity>`` holds them in DuckDB: rows
   of published files (a marker in ``<lake>/file_ledger``), the last load per natural key;
3. ``dbt <command> --target spark``: the same models, written once (``dbt_project/macros``
   has the few places the dialects differ).

Tables and the Hive metastore live under ``$CARDPULSE_HOME/spark`` (``spark_dirs``); a cluster
keeps its own metastore and warehouse (docs/scale.md).
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

from pipelines.engine import EngineSettings
from pipelines.errors import CardPulseError
from pipelines.ingest.entities import ENTITIES
from pipelines.ingest.lake import LEDGER, partition_name

# DuckDB's raw types in Spark's words (timestamps are wall time: no zone).
_SPARK_TYPES = {
    "VARCHAR": "STRING",
    "TIMESTAMP": "TIMESTAMP_NTZ",
    "INTEGER": "INT",
    "BIGINT": "BIGINT",
    "DOUBLE": "DOUBLE",
    "BOOLEAN": "BOOLEAN",
    "DATE": "DATE",
}


def spark_dirs(root: Path) -> dict[str, str]:
    """Static Spark settings that keep its tables and metastore under ``root``."""
    root = Path(root)
    return {
        "spark.sql.warehouse.dir": str(root / "warehouse"),
        "spark.hadoop.javax.jdo.option.ConnectionURL": (
            f"jdbc:derby:;databaseName={root / 'metastore_db'};create=true"
        ),
        "spark.driver.extraJavaOptions": f"-Dderby.system.home={root}",
    }


def spark_session(settings: EngineSettings, root: Path):
    """The process's Spark session (Hive catalog, so dbt's tables outlive the process, unless
    ``spark.sql.catalogImplementation`` says ``in-memory``)."""
    from pyspark.sql import SparkSession

    Path(root).mkdir(parents=True, exist_ok=True)
    # Hive catalog unless the settings say otherwise (spark.sql.catalogImplementation).
    builder = SparkSession.builder.appName("cardpulse").enableHiveSupport()
    builder = builder.master(settings.spark_master)
    # Python workers run this interpreter (its packages), unless told otherwise.
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    conf = dict(spark_dirs(root))
    if settings.spark_master.startswith("local"):
        # A local master talks to itself over loopback only.
        conf |= {"spark.driver.host": "127.0.0.1", "spark.driver.bindAddress": "127.0.0.1"}
    conf |= dict(settings.spark_conf)
    for key, value in conf.items():
        builder = builder.config(key, value)
    session = builder.getOrCreate()
    session.sparkContext.setLogLevel("ERROR")
    return session


def raw_schemas() -> dict[str, list[tuple[str, str]]]:
    """(column, Spark type) per raw table, read from the warehouse's own DDL (every optional
    column included: ``schema.full_columns``)."""
    from pipelines.ingest.schema import RAW_TABLES, full_columns

    return {
        table: [(name, _spark_type(kind)) for name, kind in full_columns(table)]
        for table in RAW_TABLES
    }


def _spark_type(duckdb_type: str) -> str:
    return duckdb_type if duckdb_type.startswith("DECIMAL") else _SPARK_TYPES[duckdb_type]


def _quote(path: Path) -> str:
    return "'" + str(path).replace("\\", "\\\\").replace("'", "\\'") + "'"


def register_lake(spark, lake: Path) -> list[str]:
    """Register the lake's entities as ``raw.<entity>`` views of their current rows."""
    lake = Path(lake)
    schemas = raw_schemas()
    spark.sql("CREATE DATABASE IF NOT EXISTS raw_lake")
    spark.sql("CREATE DATABASE IF NOT EXISTS raw")
    (lake / LEDGER).mkdir(parents=True, exist_ok=True)
    ledger_columns = ", ".join(f"`{n}` {t}" for n, t in schemas["file_ledger"])
    spark.sql("DROP TABLE IF EXISTS raw_lake.file_ledger")
    spark.sql(
        f"CREATE TABLE raw_lake.file_ledger ({ledger_columns}) USING parquet "
        f"LOCATION {_quote(lake / LEDGER)}"
    )
    spark.sql("CREATE OR REPLACE VIEW raw.file_ledger AS SELECT * FROM raw_lake.file_ledger")
    registered = []
    for entity, spec in ENTITIES.items():
        if entity not in schemas:
            continue
        (lake / entity).mkdir(parents=True, exist_ok=True)
        columns = schemas[entity]
        ddl = ", ".join(f"`{n}` {t}" for n, t in columns)
        spark.sql(f"DROP TABLE IF EXISTS raw_lake.{entity}")
        partition = partition_name(entity)
        kind = "DATE" if partition == "day" else "STRING"
        # Partitions are found by listing the folder at query time
        # (spark.sql.hive.manageFilesourcePartitions=false): new files need no registering.
        spark.sql(
            f"CREATE TABLE raw_lake.{entity} ({ddl}, {partition} {kind}) USING parquet "
            f"PARTITIONED BY ({partition}) LOCATION {_quote(lake / entity)}"
        )
        names = ", ".join(f"`{n}`" for n, _ in columns)
        key = ", ".join(f"`{k}`" for k in spec.key)
        spark.sql(
            f"""CREATE OR REPLACE VIEW raw.{entity} AS
                SELECT {names} FROM (
                    SELECT *, row_number() OVER (
                        PARTITION BY {key} ORDER BY _loaded_at DESC, _file_id DESC) AS _rank
                    FROM raw_lake.{entity}
                    WHERE _file_id IN (SELECT _file_id FROM raw_lake.file_ledger
                                       WHERE entity = '{entity}'))
                WHERE _rank = 1"""
        )
        registered.append(entity)
    return registered


def run_dbt(
    settings: EngineSettings,
    root: Path,
    args: list[str],
    project_dir: Path | None = None,
    target_path: Path | None = None,
):
    """Register the lake and run ``dbt <args> --target spark`` in this process; returns dbt's
    result (raises CardPulseError when dbt failed)."""
    from dbt.cli.main import dbtRunner

    from pipelines.resources import DBT_PROJECT_DIR

    if settings.lake is None:
        raise CardPulseError("dbt on Spark reads the lake: set engine.lake")
    spark = spark_session(settings, root)
    register_lake(spark, settings.lake)
    project_dir = Path(project_dir or DBT_PROJECT_DIR)
    os.environ["CARDPULSE_SPARK_DIR"] = str(root)
    command = [
        *args,
        "--target",
        "spark",
        "--project-dir",
        str(project_dir),
        "--profiles-dir",
        str(project_dir),
        "--quiet",
    ]
    if target_path is not None:
        command += ["--target-path", str(target_path)]
    result = dbtRunner().invoke(command)
    if not result.success:
        failed = [
            f"{r.node.name}: {(r.message or '').splitlines()[0] if r.message else r.status}"
            for r in (result.result or [])
            if str(r.status) in ("error", "fail")
        ]
        detail = "; ".join(failed) or str(result.exception)
        raise CardPulseError(f"dbt on Spark failed: {detail[:2000]}")
    return result
