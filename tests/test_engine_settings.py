"""Engine settings: DuckDB on one machine by default, the lake and Spark by config."""

from __future__ import annotations

import pytest

from cardpulse.settings import SettingsError
from pipelines.engine import load_engine_settings


def test_default_is_duckdb_on_one_machine(tmp_path):
    settings = load_engine_settings(tmp_path, environ={})
    assert settings.lake is None
    assert (settings.dbt_target, settings.forecast_executor) == ("duckdb", "processes")


def test_toml_and_environment(tmp_path):
    (tmp_path / "cardpulse.toml").write_text(
        '[engine]\nlake = "lake"\ndbt_target = "spark"\n'
        '[engine.spark_conf]\n"spark.sql.shuffle.partitions" = 8\n'
    )
    settings = load_engine_settings(tmp_path, environ={"CARDPULSE_FORECAST_EXECUTOR": "spark"})
    assert settings.lake == tmp_path / "lake"
    assert (settings.dbt_target, settings.forecast_executor) == ("spark", "spark")
    assert settings.spark_conf["spark.sql.shuffle.partitions"] == "8"
    assert settings.spark_conf["spark.sql.session.timeZone"] == "Asia/Shanghai"


@pytest.mark.parametrize(
    "text, message",
    [
        ('[engine]\ndbt_target = "bigquery"\n', "dbt_target = 'bigquery' must be one of duckdb"),
        ('[engine]\ndbt_target = "spark"\n', "reads the lake: set lake"),
        ('[engine]\nlakes = "x"\n', "[engine] unknown key 'lakes'"),
        ("[engine\n", "cardpulse.toml: not valid TOML"),
    ],
)
def test_bad_settings_are_one_clear_error(tmp_path, text, message):
    (tmp_path / "cardpulse.toml").write_text(text)
    with pytest.raises(SettingsError) as raised:
        load_engine_settings(tmp_path, environ={})
    assert message in str(raised.value)


def test_a_bad_environment_override_names_its_variable(tmp_path):
    with pytest.raises(SettingsError) as raised:
        load_engine_settings(tmp_path, environ={"CARDPULSE_FORECAST_EXECUTOR": "threads"})
    assert str(raised.value) == (
        "$CARDPULSE_FORECAST_EXECUTOR: [engine] forecast_executor = 'threads' "
        "must be one of processes, spark"
    )


@pytest.mark.parametrize("value", ["lots", "12", "150%", "0GB", "100bytes"])
def test_a_dbt_memory_limit_duckdb_would_refuse_is_one_clear_error(tmp_path, value):
    with pytest.raises(SettingsError) as raised:
        load_engine_settings(tmp_path, environ={"CARDPULSE_DBT_MEMORY_LIMIT": value})
    assert str(raised.value).startswith(f"$CARDPULSE_DBT_MEMORY_LIMIT: {value!r} must be a size")


@pytest.mark.parametrize("value", ["40%", "12GB", "12 gb", "1.5GiB", "500MB", "12G"])
def test_a_dbt_memory_limit_duckdb_takes_is_accepted(tmp_path, value):
    import duckdb

    load_engine_settings(tmp_path, environ={"CARDPULSE_DBT_MEMORY_LIMIT": value})
    duckdb.connect().execute(f"SET memory_limit = '{value}'")  # and DuckDB takes it too
