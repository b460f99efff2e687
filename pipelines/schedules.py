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


# --- scheduled reports (pipelines/notify/reports.py), e-mailed in Asia/Shanghai time ---------


def _report_op(name: str) -> dg.OpDefinition:
    # The outbox lives in the warehouse: the op waits its turn with every other writer.
    @dg.op(name=f"send_{name}_report", pool="warehouse")
    def send(context) -> None:  # (no annotation: this module uses postponed annotations)
        from pipelines.notify.dispatch import load_config
        from pipelines.notify.reports import send_report

        context.log.info(send_report(name, load_config()))

    return send


def _report_job(name: str, description: str) -> dg.JobDefinition:
    op = _report_op(name)

    @dg.job(name=f"{name}_report", description=description, executor_def=dg.in_process_executor)
    def report_job() -> None:
        op()

    return report_job


weekly_merchant_report_job = _report_job(
    "weekly_merchant",
    "Render the weekly merchant report (KPIs with week-on-week and year-on-year, top SKUs, "
    "next week's forecast) as PDF and XLSX and e-mail it to each merchant in cardpulse.toml.",
)
daily_ops_report_job = _report_job(
    "daily_ops",
    "Render the daily ops report (what to order today, balances to top up) as PDF and XLSX "
    "and e-mail it.",
)


def report_schedules() -> list[dg.ScheduleDefinition]:
    """One schedule per report, on the cron of ``[reports.<name>]`` (defaults: Mondays 09:00,
    every day 08:30), running only when the report is configured and enabled."""
    from cardpulse.notify_settings import DEFAULT_DAILY_CRON, DEFAULT_WEEKLY_CRON
    from cardpulse.settings import SettingsError
    from pipelines.notify.dispatch import load_config

    try:
        reports = load_config().reports
    except SettingsError:  # shown by the report run itself; the definitions still load
        reports = None
    found = []
    for job, name, default_cron in (
        (weekly_merchant_report_job, "weekly_merchant", DEFAULT_WEEKLY_CRON),
        (daily_ops_report_job, "daily_ops", DEFAULT_DAILY_CRON),
    ):
        settings = getattr(reports, name, None) if reports else None
        running = settings is not None and settings.enabled
        found.append(
            dg.ScheduleDefinition(
                name=f"{name}_report_schedule",
                job=job,
                cron_schedule=settings.cron if settings else default_cron,
                execution_timezone=BUSINESS_TZ,
                default_status=dg.DefaultScheduleStatus.RUNNING
                if running
                else dg.DefaultScheduleStatus.STOPPED,
                description=f"E-mails the {name.replace('_', ' ')} report (Asia/Shanghai time).",
            )
        )
    return found
