"""``[engine]``: which engine runs each stage, the settings past one machine (docs/scale.md).

The default is everything on DuckDB on this machine: no lake, dbt target ``duckdb``, forecasts
fanned out to local processes. ``CARDPULSE_LAKE``, ``CARDPULSE_DBT_TARGET``,
``CARDPULSE_FORECAST_EXECUTOR``, ``CARDPULSE_SPARK_MASTER`` and
``CARDPULSE_FORECAST_REFIT_DAYS`` override the file::

    [engine]
    lake = "/data/cardpulse-lake"        # raw layer also as Hive-partitioned Parquet
    dbt_target = "spark"                  # or "duckdb" (default)
    forecast_executor = "spark"           # or "processes" (default)
    spark_master = "local[2]"             # or spark://host:7077, yarn, ...
    forecast_refit_days = 7               # refit forecasts weekly, or earlier on drift (default 1)
    [engine.spark_conf]
    "spark.sql.shuffle.partitions" = "4"

Loaded as ``load_settings().engine`` (``cardpulse.settings``), checked there with every other
section; this module holds the section's types and its one parse step. Standard library only.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

DBT_TARGETS = ("duckdb", "spark")
FORECAST_EXECUTORS = ("processes", "spark")
ENVIRONMENT = {
    "lake": "CARDPULSE_LAKE",
    "dbt_target": "CARDPULSE_DBT_TARGET",
    "forecast_executor": "CARDPULSE_FORECAST_EXECUTOR",
    "spark_master": "CARDPULSE_SPARK_MASTER",
    "forecast_refit_days": "CARDPULSE_FORECAST_REFIT_DAYS",
}

# dbt's DuckDB memory limit: read by dbt_project/profiles.yml itself (default 40%), checked
# here so that a value DuckDB would refuse stops the build before it starts, in one line.
DBT_MEMORY_LIMIT = "CARDPULSE_DBT_MEMORY_LIMIT"
_MEMORY = re.compile(r"\s*(\d+(?:\.\d+)?)\s*(%|[KMGT]i?B?)\s*", re.IGNORECASE)

# Small by default: local[2] on a shared 2-core machine; a cluster sets its own.
DEFAULT_SPARK_CONF: dict[str, str] = {
    "spark.sql.shuffle.partitions": "4",
    "spark.default.parallelism": "2",
    "spark.sql.session.timeZone": "Asia/Shanghai",
    # Timestamps are Shanghai wall time everywhere (as in DuckDB): `timestamp` means no zone.
    "spark.sql.timestampType": "TIMESTAMP_NTZ",
    "spark.ui.showConsoleProgress": "false",
    "spark.ui.enabled": "false",
    "spark.sql.adaptive.enabled": "true",
    # The lake's partitions are listed from its folders, never registered in a metastore.
    "spark.sql.hive.manageFilesourcePartitions": "false",
}


@dataclass(frozen=True)
class EngineTable:
    """The ``[engine]`` keys as written (``spark_conf`` is read apart: any Spark setting)."""

    lake: str = ""
    dbt_target: str = field(default="duckdb", metadata={"choices": DBT_TARGETS})
    forecast_executor: str = field(default="processes", metadata={"choices": FORECAST_EXECUTORS})
    spark_master: str = "local[2]"
    # Days a forecast fit is kept before the build refits it (1: every build refits); a kept
    # fit is refitted earlier when the days since miss its 95% interval (issue 21).
    forecast_refit_days: int = field(default=1, metadata={"bounds": (1, None, False, False)})


@dataclass(frozen=True)
class EngineSettings:
    """Where the raw lake lives and which engine runs dbt and the forecast fan-out."""

    lake: Path | None = None
    dbt_target: str = "duckdb"
    forecast_executor: str = "processes"
    spark_master: str = "local[2]"
    spark_conf: Mapping[str, str] = field(default_factory=lambda: dict(DEFAULT_SPARK_CONF))
    forecast_refit_days: int = 1


def parse_engine(
    tables: Mapping[str, Any],
    root: Path,
    source: str,
    problems: list[str],
    environ: Mapping[str, str],
) -> EngineSettings:
    """1. ``[engine]`` of the file, checked key by key; 2. the environment variables override
    single values (checked the same way); 3. ``lake`` resolved against ``root``, ``spark_conf``
    over the defaults. Every bad key adds one line to ``problems``."""
    from cardpulse.settings import build_section

    table = dict(tables.get("engine", {}))
    conf_table = table.pop("spark_conf", {})
    written = build_section(EngineTable, table, "[engine]", source, problems)
    values = dataclasses.asdict(written)
    for key, var in ENVIRONMENT.items():
        if environ.get(var):
            value = environ[var]
            if key == "forecast_refit_days" and value.strip().isdigit():
                value = int(value)  # a whole number in the environment's text
            checked = build_section(EngineTable, {key: value}, "[engine]", f"${var}", problems)
            values[key] = getattr(checked, key)  # the default again when it was bad
    _check_dbt_memory_limit(environ, problems)
    conf = dict(DEFAULT_SPARK_CONF)
    if isinstance(conf_table, Mapping):
        conf.update({str(k): str(v) for k, v in conf_table.items()})
    else:
        problems.append(f"{source}: [engine] spark_conf must be a table, not {conf_table!r}")
    lake = None
    if values["lake"]:
        lake = Path(values["lake"]).expanduser()
        lake = lake if lake.is_absolute() else (root / lake).resolve()
    if values["dbt_target"] == "spark" and lake is None:
        problems.append(
            f"{source}: [engine] dbt_target = 'spark' reads the lake: set lake (or $CARDPULSE_LAKE)"
        )
    return EngineSettings(
        lake=lake,
        dbt_target=values["dbt_target"],
        forecast_executor=values["forecast_executor"],
        spark_master=values["spark_master"],
        spark_conf=conf,
        forecast_refit_days=values["forecast_refit_days"],
    )


def _check_dbt_memory_limit(environ: Mapping[str, str], problems: list[str]) -> None:
    """``$CARDPULSE_DBT_MEMORY_LIMIT``, when set: a size (``12GB``, ``1.5GiB``, ``500MB``) or
    a share of the machine (``40%``, at most 100%)."""
    value = environ.get(DBT_MEMORY_LIMIT)
    if not value:
        return
    matched = _MEMORY.fullmatch(value)
    if matched and float(matched[1]) > 0 and (matched[2] != "%" or float(matched[1]) <= 100):
        return
    problems.append(
        f"${DBT_MEMORY_LIMIT}: {value!r} must be a size such as 12GB or 500MB, "
        "or a share of the machine's memory such as 40% (at most 100%)"
    )
