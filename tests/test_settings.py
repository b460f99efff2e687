"""cardpulse.toml: one typed settings object over the shipped defaults, one line per bad key."""

from __future__ import annotations

import dataclasses
import subprocess
import sys

import dagster as dg
import pytest

from cardpulse.settings import (
    DEFAULT_FORECAST,
    DEFAULT_RESTOCK,
    Home,
    SettingsError,
    load_settings,
    replace_section,
)
from forecasting.demand.series_forecast import ForecastSettings
from forecasting.restock import RestockPolicy
from pipelines.assets.restock import RestockConfig
from pipelines.resources import BuildSettings, build_resources


def _home(tmp_path, text: str | None = None, pricing: str | None = None) -> Home:
    if text is not None:
        (tmp_path / "cardpulse.toml").write_text(text, encoding="utf-8")
    if pricing is not None:
        (tmp_path / "pricing.toml").write_text(pricing, encoding="utf-8")
    return Home(tmp_path)


def test_no_file_gives_the_shipped_defaults_the_stages_use(tmp_path):
    settings = load_settings(_home(tmp_path))
    assert settings.forecast == DEFAULT_FORECAST and settings.restock == DEFAULT_RESTOCK
    assert settings.paths.warehouse == tmp_path / "warehouse.duckdb"
    # The stages' own defaults are these values, not copies typed again.
    assert ForecastSettings().horizon_days == settings.horizon_days == 28
    assert RestockPolicy() == settings.restock.policy()
    assert settings.pricing.guardrails.min_margin_pct == 5.0


def test_file_overrides_only_the_keys_it_sets(tmp_path):
    settings = load_settings(
        _home(
            tmp_path,
            "[forecast]\nhorizon_days = 14\n\n[restock]\nservice_level_a = 0.99\n"
            "[pricing.guardrails]\nmax_change_pct = 4\n[pricing.category.game_card]\n"
            "min_margin_pct = 8.5\n",
        )
    )
    assert settings.forecast.horizon_days == 14 and settings.forecast.n_folds == 3
    assert settings.forecast.engine_settings().horizon_days == 14
    assert settings.restock.policy().service_levels == {"A": 0.99, "B": 0.95, "C": 0.90}
    assert settings.pricing.guardrails.max_change_pct == 4.0
    assert settings.pricing.guardrails_for("game_card").min_margin_pct == 8.5
    assert settings.pricing.guardrails_for("game_card").max_change_pct == 4.0
    assert settings.pricing.guardrails_for("mobile_topup").max_change_pct == 3.0


def test_cardpulse_toml_pricing_goes_over_the_older_pricing_toml(tmp_path):
    home = _home(
        tmp_path,
        "[pricing.guardrails]\nmin_margin_pct = 7\n",
        pricing="[guardrails]\nmin_margin_pct = 6\nmax_change_pct = 8\n",
    )
    rails = load_settings(home).pricing.guardrails
    assert (rails.min_margin_pct, rails.max_change_pct) == (7.0, 8.0)


def test_every_bad_key_gets_its_own_line(tmp_path):
    home = _home(
        tmp_path,
        "[forecast]\nhorizon_days = 0\nhorizon = 28\nn_folds = '3'\n\n"
        "[restock]\nservice_level_a = 1.0\nlearn_late_cover = 1\n\n[notfy]\nx = 1\n",
    )
    with pytest.raises(SettingsError) as raised:
        load_settings(home)
    lines = str(raised.value).splitlines()
    source = str(tmp_path / "cardpulse.toml")
    assert lines == [
        f"{source}: unknown section [notfy] "
        "(known: forecast, restock, pricing, notify, reports, engine, risk)",
        f"{source}: [forecast] horizon_days = 0 is out of range [1, 366]",
        f"{source}: [forecast] unknown key 'horizon' (known: horizon_days, n_folds, "
        "prophet_min_daily_units, recent_days, learn_events)",
        f"{source}: [forecast] n_folds = '3' must be a whole number",
        f"{source}: [restock] service_level_a = 1.0 is out of range [0.5, 1)",
        f"{source}: [restock] learn_late_cover = 1 must be true or false",
    ]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("[pricing.guardrails]\nmin_margin_pct = 120\n", "[pricing.guardrails]: min_margin_pct"),
        ("[pricing.guardrail]\nmin_margin_pct = 1\n", "[pricing]: unknown table(s) guardrail"),
        ("[pricing.elasticity]\nlevel = 0.8\n", "[pricing.elasticity]: unknown key(s) level"),
        ("forecast = 3\n", "forecast must be a table"),
        ("[forecast\n", "not valid TOML"),
    ],
)
def test_bad_pricing_tables_and_bad_toml_are_one_line(tmp_path, text, message):
    with pytest.raises(SettingsError) as raised:
        load_settings(_home(tmp_path, text))
    assert message in str(raised.value) and len(str(raised.value).splitlines()) == 1


def test_run_config_overrides_are_checked_like_the_file():
    base = DEFAULT_RESTOCK
    assert RestockConfig().section(base) == base
    changed = RestockConfig(service_level_c=0.8, cycle_days=3).section(base)
    assert (changed.service_level_c, changed.cycle_days, changed.service_level_a) == (
        0.8,
        3,
        0.98,
    )
    with pytest.raises(dg.Failure, match=r"restock run config: \[restock\] late_in_stock"):
        RestockConfig(late_in_stock=1.5).section(base)
    with pytest.raises(SettingsError, match="cycle_days = -1 is out of range"):
        replace_section(base, cycle_days=-1)


def test_the_dagster_resource_carries_the_file_and_its_horizon(tmp_path, monkeypatch):
    (tmp_path / "cardpulse.toml").write_text(
        "[forecast]\nhorizon_days = 21\n[restock]\ncycle_days = 2\n", encoding="utf-8"
    )
    monkeypatch.setenv("CARDPULSE_HOME", str(tmp_path))
    resource = build_resources()["build_settings"]
    assert resource.horizon_days == 21
    assert resource.settings().restock.cycle_days == 2
    # A test (or run config) that names its own horizon keeps it in the settings too.
    assert BuildSettings(as_of="2026-01-01", horizon_days=7).settings().horizon_days == 7
    assert dataclasses.replace(resource.settings(), pricing=None).paths.root == tmp_path


def test_forecasting_and_the_settings_import_no_framework():
    probe = (
        "import sys, cardpulse.settings, forecasting.demand.pipeline, forecasting.restock, "
        "forecasting.pricing\n"
        "cardpulse.settings.load_settings(cardpulse.settings.Home(__import__('pathlib')"
        ".Path('/nonexistent')))\n"
        "bad = sorted(m for m in sys.modules if m.split('.')[0] in "
        "('pipelines', 'dashboard', 'dagster', 'streamlit', 'dagster_dbt'))\n"
        "print(bad)"
    )
    out = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True
    ).stdout
    assert out.strip() == "[]"


def test_cardpulse_build_stops_on_a_bad_file_with_one_line_per_key(tmp_path, monkeypatch, capsys):
    from pipelines import cli

    (tmp_path / "cardpulse.toml").write_text(
        "[forecast]\nhorizon_days = 0\n[restock]\nservice_levl_a = 0.9\n", encoding="utf-8"
    )
    monkeypatch.setenv("CARDPULSE_HOME", str(tmp_path))
    assert cli.main(["build"]) == 1
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 2 and lines[0].startswith("cardpulse build: error: ")
    assert "[forecast] horizon_days = 0 is out of range [1, 366]" in lines[0]
    assert "[restock] unknown key 'service_levl_a'" in lines[1]
    assert not (tmp_path / "warehouse.duckdb").exists()  # nothing ran, nothing half-written


def test_notify_reports_engine_and_risk_are_typed_sections_of_the_one_object(tmp_path):
    good = (
        "[forecast]\nhorizon_days = 14\n"
        '[engine]\nforecast_executor = "spark"\n'
        "[risk]\nalert_budget = 7\n"
        "[notify]\ndigest_threshold = 9\n"
        '[notify.channels.mail]\ntype = "email"\nhost = "smtp.example.com"\n'
        'from = "a@example.com"\n'
        '[reports.daily_ops]\nchannel = "mail"\n'
    )
    settings = load_settings(_home(tmp_path, good), environ={})
    assert settings.horizon_days == 14
    assert settings.engine.forecast_executor == "spark" and settings.engine.lake is None
    assert settings.risk.alert_budget == 7
    assert settings.notify.digest_threshold == 9
    assert settings.reports.daily_ops.channel == "mail"
    assert settings.reports.daily_ops.cron == "30 8 * * *"
    assert load_settings(_home(tmp_path, ""), environ={}).engine.dbt_target == "duckdb"


def test_bad_keys_of_every_section_are_listed_together_before_a_build_starts(
    tmp_path, monkeypatch, capsys
):
    """One loader: cardpulse build reports each bad key of [forecast], [engine], [risk],
    [notify] and [reports] on its own line, and nothing runs."""
    from pipelines import cli

    (tmp_path / "cardpulse.toml").write_text(
        "[forecast]\nhorizon_days = 0\n"
        '[engine]\nforecast_executor = "threads"\n'
        "[risk]\nalert_budget = 0\nbuyer_zz = 3\n"
        "[notify]\nmax_attempts = 0\nlanguage = 'fr'\n"
        '[notify.channels.bot]\ntype = "slack"\n'
        '[reports.daily_ops]\nchannel = "nowhere"\n'
        "[forecst]\n",
        encoding="utf-8",
    )
    monkeypatch.setenv("CARDPULSE_HOME", str(tmp_path))
    monkeypatch.delenv("CARDPULSE_FORECAST_EXECUTOR", raising=False)
    assert cli.main(["build"]) == 1
    lines = capsys.readouterr().err.strip().splitlines()
    expected = [
        "unknown section [forecst]",
        "[forecast] horizon_days = 0 is out of range [1, 366]",
        "[engine] forecast_executor = 'threads' must be one of processes, spark",
        "[risk] alert_budget = 0 must be at least 1",
        "[risk] unknown key 'buyer_zz'",
        "notify.max_attempts: expected at least 1, got 0",
        "notify.language: expected 'zh' or 'en', got 'fr'",
        "notify.channels.bot.type: expected one of email, wecom, dingtalk, feishu",
        "reports.daily_ops.channel: no channel named 'nowhere'",
    ]
    assert len(lines) == len(expected)
    for want in expected:
        assert sum(want in line for line in lines) == 1, want
    assert not (tmp_path / "warehouse.duckdb").exists()


def test_notify_routes_are_checked_against_the_registered_alert_kinds(tmp_path):
    from pipelines.notify.dispatch import load_config

    home = _home(
        tmp_path,
        '[notify.channels.bot]\ntype = "wecom"\nwebhook_url_env = "X"\n'
        '[notify.roles]\nops = ["bot"]\n[notify.routes]\nlow_stok = ["ops"]\n',
    )
    assert load_settings(home).notify.routes == {"low_stok": ("ops",)}  # typed, not yet routed
    with pytest.raises(SettingsError, match=r"notify.routes.low_stok: unknown alert kind"):
        load_config(home)
