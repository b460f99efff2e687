"""Engine settings: DuckDB on one machine by default, the lake and Spark by config."""

from __future__ import annotations

import pytest

from pipelines.engine import load_engine_settings
from pipelines.errors import CardPulseError


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
        ('[engine]\ndbt_target = "bigquery"\n', "dbt_target must be one of"),
        ('[engine]\ndbt_target = "spark"\n', "set engine.lake"),
        ('[engine]\nlakes = "x"\n', "unknown [engine] key(s): lakes"),
        ("[engine\n", "cardpulse.toml"),
    ],
)
def test_bad_settings_are_one_clear_error(tmp_path, text, message):
    (tmp_path / "cardpulse.toml").write_text(text)
    with pytest.raises(CardPulseError, match=None) as raised:
        load_engine_settings(tmp_path, environ={})
    assert message in str(raised.value)
