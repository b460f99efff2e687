"""The CardPulse Dagster project: every asset in ``pipelines/assets``, one ``build`` job.

Asset modules join by being there: forecasting, restock and pricing modules added to
``pipelines/assets`` are collected with their asset checks, and ``publish_snapshot`` is made
to depend on every asset found, so the dashboard's snapshot is published last.
"""

from __future__ import annotations

import dagster as dg

import pipelines.assets
from pipelines.assets.publish_snapshot import publish_snapshot_asset
from pipelines.resources import build_resources
from pipelines.schedules import (
    BUILD_JOB_NAME,
    daily_build,
    daily_ops_report_job,
    report_schedules,
    weekly_merchant_report_job,
)
from pipelines.sensors import build_failure_alert, landing_sensor


def collect_assets() -> tuple[list, list]:
    """1. Load every asset and standalone asset check of ``pipelines.assets``,
    2. add ``publish_snapshot`` downstream of all the asset keys found."""
    assets = list(dg.load_assets_from_package_module(pipelines.assets))
    asset_checks = list(dg.load_asset_checks_from_package_module(pipelines.assets))
    upstream = sorted(
        {key for asset in assets if isinstance(asset, dg.AssetsDefinition) for key in asset.keys},
        key=lambda key: key.to_user_string(),
    )
    return [*assets, publish_snapshot_asset(upstream)], asset_checks


# DuckDB takes one writer, and dbt writes the file from its own process: steps run one after
# another in this process, each opening and closing its own connection.
build_job = dg.define_asset_job(
    BUILD_JOB_NAME,
    selection=dg.AssetSelection.all(),
    executor_def=dg.in_process_executor,
    description="Ingest landing/, dbt build (models + tests), forecasts, restock, pricing, "
    "publish the dashboard snapshot.",
)


def build_definitions(as_of: str = "") -> dg.Definitions:
    """The project's definitions, with resources read from the environment now.

    ``as_of`` fixes "today" for forecasting (ISO date; empty = the day after the last order).
    """
    assets, asset_checks = collect_assets()
    return dg.Definitions(
        assets=assets,
        asset_checks=asset_checks,
        jobs=[build_job, weekly_merchant_report_job, daily_ops_report_job],
        schedules=[daily_build, *report_schedules()],
        sensors=[landing_sensor, build_failure_alert],
        resources=build_resources(as_of=as_of),
        # Every job, the UI's "Materialize" ones included, runs its steps in one process.
        executor=dg.in_process_executor,
    )


# What `dagster dev -m pipelines.definitions` (and `cardpulse ui`) loads.
defs = build_definitions()
