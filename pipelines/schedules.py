"""The nightly build: the whole job at 02:00 business time, after the day's exports landed."""

from __future__ import annotations

import dagster as dg

from pipelines.settings import BUSINESS_TZ

BUILD_JOB_NAME = "build"

daily_build = dg.ScheduleDefinition(
    name="daily_build",
    job_name=BUILD_JOB_NAME,
    cron_schedule="0 2 * * *",
    execution_timezone=BUSINESS_TZ,
    default_status=dg.DefaultScheduleStatus.RUNNING,
    description="Every day at 02:00 Asia/Shanghai: ingest landing/, dbt build, forecasts, "
    "restock, pricing, publish the snapshot.",
)
