"""Which engine runs each stage: the settings past one machine (docs/scale.md).

The default is everything on DuckDB on this machine: no lake, dbt target ``duckdb``, forecasts
fanned out to local processes. ``load_engine_settings`` reads the ``[engine]`` table of
``$CARDPULSE_HOME/cardpulse.toml``; ``CARDPULSE_LAKE``, ``CARDPULSE_DBT_TARGET``,
``CARDPULSE_FORECAST_EXECUTOR``, ``CARDPULSE_SPARK_MASTER`` and ``CARDPULSE_FORECAST_REFIT_DAYS``
override it. One small typed
place, one load function, so the installation's settings object can take it in whole::

    [engine]
    lake = "/data/cardpulse-lake"        # raw layer also as Hive-partitioned Parquet
    dbt_target = "spark"                  # or "duckdb" (default)
    forecast_executor = "spark"           # or "processes" (default)
    spark_master = "local[2]"             # or spark://host:7077, yarn, ...
    forecast_refit_days = 7               # refit forecasts weekly, or earlier on drift (default 1)
    [engine.spark_conf]
    "spark.sql.shuffle.partitions" = "4"
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from pipelines.errors import CardPulseError

DBT_TARGETS = ("duckdb", "spark")
FORECAST_EXECUTORS = ("processes", "spark")

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
class EngineSettings:
    """Where the raw lake lives and which engine runs dbt and the forecast fan-out."""

    lake: Path | None = None
    dbt_target: str = "duckdb"
    forecast_executor: str = "processes"
    spark_master: str = "local[2]"
    spark_conf: Mapping[str, str] = field(default_factory=lambda: dict(DEFAULT_SPARK_CONF))
    # Days a forecast fit is kept before the build refits it (1: every build refits); a kept
    # fit is refitted earlier when the days since miss its 95% interval (issue 21).
    forecast_refit_days: int = 1

    def __post_init__(self) -> None:
        if self.dbt_target not in DBT_TARGETS:
            raise CardPulseError(
                f"engine.dbt_target must be one of {', '.join(DBT_TARGETS)}, "
                f"not '{self.dbt_target}'"
            )
        if self.forecast_executor not in FORECAST_EXECUTORS:
            raise CardPulseError(
                f"engine.forecast_executor must be one of {', '.join(FORECAST_EXECUTORS)}, "
                f"not '{self.forecast_executor}'"
            )
        if (
            isinstance(self.forecast_refit_days, bool)
            or not isinstance(self.forecast_refit_days, int)
            or self.forecast_refit_days < 1
        ):
            raise CardPulseError(
                "engine.forecast_refit_days must be a whole number of days >= 1, "
                f"not '{self.forecast_refit_days}'"
            )
        if self.dbt_target == "spark" and self.lake is None:
            raise CardPulseError("engine.dbt_target = 'spark' reads the lake: set engine.lake")


def load_engine_settings(
    root: str | Path | None = None, environ: Mapping[str, str] | None = None
) -> EngineSettings:
    """The engine settings of the installation at ``root`` (default ``$CARDPULSE_HOME``).

    1. ``[engine]`` of ``cardpulse.toml`` under the root, when the file exists;
    2. environment variables override single values;
    3. an unknown key or value is one clear CardPulseError.
    """
    environ = os.environ if environ is None else environ
    root = Path(root or environ.get("CARDPULSE_HOME", "./data")).expanduser().resolve()
    values: dict = {}
    config = root / "cardpulse.toml"
    if config.is_file():
        try:
            values = dict(tomllib.loads(config.read_text(encoding="utf-8")).get("engine", {}))
        except tomllib.TOMLDecodeError as error:
            raise CardPulseError(f"{config}: {error}") from None
    for key, variable in (
        ("lake", "CARDPULSE_LAKE"),
        ("dbt_target", "CARDPULSE_DBT_TARGET"),
        ("forecast_executor", "CARDPULSE_FORECAST_EXECUTOR"),
        ("spark_master", "CARDPULSE_SPARK_MASTER"),
        ("forecast_refit_days", "CARDPULSE_FORECAST_REFIT_DAYS"),
    ):
        if environ.get(variable):
            values[key] = environ[variable]
    if isinstance(values.get("forecast_refit_days"), str):
        text = values["forecast_refit_days"].strip()
        values["forecast_refit_days"] = int(text) if text.isdigit() else text
    known = {
        "lake", "dbt_target", "forecast_executor", "spark_master", "spark_conf",
        "forecast_refit_days",
    }  # fmt: skip
    unknown = sorted(set(values) - known)
    if unknown:
        raise CardPulseError(f"{config}: unknown [engine] key(s): {', '.join(unknown)}")
    if values.get("lake"):
        lake = Path(str(values["lake"])).expanduser()
        values["lake"] = lake if lake.is_absolute() else (root / lake).resolve()
    else:
        values.pop("lake", None)
    conf = dict(DEFAULT_SPARK_CONF)
    conf.update({str(k): str(v) for k, v in dict(values.pop("spark_conf", {})).items()})
    try:
        return EngineSettings(spark_conf=conf, **values)
    except CardPulseError as error:
        where = f"{config}: " if config.is_file() else ""
        raise CardPulseError(f"{where}{error}") from None


def spark_session(settings: EngineSettings, app_name: str = "cardpulse"):
    """The Spark session these settings name (created once per process, reused after)."""
    from pyspark.sql import SparkSession

    builder = SparkSession.builder.appName(app_name).master(settings.spark_master)
    for key, value in settings.spark_conf.items():
        builder = builder.config(key, value)
    return builder.getOrCreate()
