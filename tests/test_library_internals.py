"""The library internals CardPulse still touches, each behind one function: these tests fail
loudly when a new release of the library changes them (pinned ranges in pyproject.toml)."""

from __future__ import annotations

import inspect

import numpy as np
import pandas as pd
import pytest
from dagster_dbt import DbtCliResource

from forecasting.demand import models
from pipelines import resources


@pytest.mark.parametrize("name", resources.DBT_PRIVATE_OVERRIDES)
def test_dagster_dbt_still_has_the_private_methods_we_override(name):
    # If dagster-dbt renames one, our override would silently go unused: fail here instead.
    assert hasattr(DbtCliResource, name), f"dagster-dbt no longer has DbtCliResource.{name}"
    assert name in vars(resources.CardPulseDbtCliResource)
    ours = vars(resources.CardPulseDbtCliResource)[name]
    theirs = inspect.getattr_static(DbtCliResource, name)
    assert type(ours) is type(theirs), f"{name} changed kind: {type(theirs).__name__}"
    if callable(theirs):
        assert list(inspect.signature(theirs).parameters) == ["self", "args"]


def test_the_dbt_version_override_answers_without_a_subprocess():
    from dbt.version import __version__

    runner = resources.CardPulseDbtCliResource(
        project_dir=str(resources.DBT_PROJECT_DIR), dbt_executable=resources.dbt_executable()
    )
    assert str(runner._cli_version) == __version__
    assert runner._initialize_dbt_core_adapter(["build"]) is None


def test_dbt_project_needs_no_private_dagster_helper():
    source = inspect.getsource(resources)
    assert "dagster._" not in source


def _series(days: int = 120) -> pd.DataFrame:
    rng = np.random.default_rng(0)
    ds = pd.date_range("2026-01-01", periods=days)
    weekly = 1.0 + 0.3 * np.sin(2 * np.pi * np.arange(days) / 7)
    return pd.DataFrame({"ds": ds, "y": rng.poisson(20 * weekly).astype(float)})


def test_prophet_stan_data_hook_keeps_its_layout_and_gives_the_same_fit():
    from prophet import Prophet

    models.quiet_logs()
    history = _series()
    stock = Prophet(uncertainty_samples=0, yearly_seasonality=False, daily_seasonality=False)
    captured = {}
    original = stock.stan_backend.prepare_data

    def spy(init, data):
        captured["init"], captured["data"] = init, data
        return original(init, data)

    stock.stan_backend.prepare_data = spy
    stock.fit(history)
    # The layout _numpy_stan_data rebuilds is what Prophet hands its backend.
    assert set(captured["data"]) == set(models.STAN_DATA_KEYS)
    assert set(captured["init"]) == set(models.STAN_INIT_KEYS)

    fast = models.use_numpy_stan_data(
        Prophet(uncertainty_samples=0, yearly_seasonality=False, daily_seasonality=False)
    )
    fast.fit(history)
    future = stock.make_future_dataframe(14, include_history=False)
    np.testing.assert_allclose(
        fast.predict(future)["yhat"], stock.predict(future)["yhat"], rtol=1e-6
    )
    np.testing.assert_allclose(
        models.prophet_point_forecast(fast, future), fast.predict(future)["yhat"], rtol=1e-9
    )


def test_a_prophet_without_the_hook_fails_loudly():
    class NoBackend:
        stan_backend = None

    with pytest.raises(RuntimeError, match="stan_backend.prepare_data is gone"):
        models.use_numpy_stan_data(NoBackend())
