"""The last step of every build: publish the dashboard's read-only snapshot.

Not an asset at module level on purpose: ``pipelines.definitions`` builds it with
``publish_snapshot_asset(keys)`` once every other asset is loaded, so that it depends on all of
them (forecasting, restock and pricing included) and runs only after they all succeeded.
"""

import datetime as dt
from collections.abc import Sequence
from zoneinfo import ZoneInfo

import dagster as dg
from dagster_duckdb import DuckDBResource

from pipelines import snapshot_writer
from pipelines.resources import WAREHOUSE_POOL, BuildSettings, dbt_target_dir
from pipelines.settings import BUSINESS_TZ, home

PUBLISH_ASSET_KEY = dg.AssetKey("publish_snapshot")


def publish_snapshot_asset(upstream: Sequence[dg.AssetKey]) -> dg.AssetsDefinition:
    """The ``publish_snapshot`` asset, downstream of every key in ``upstream``."""

    @dg.asset(
        key=PUBLISH_ASSET_KEY,
        deps=list(upstream),
        group_name="publish",
        pool=WAREHOUSE_POOL,
        kinds={"duckdb"},
        description="Replaces $CARDPULSE_HOME/snapshot.duckdb atomically with schema analytics, "
        "raw.quarantine, raw.file_ledger, analytics.build_info and analytics.dbt_results.",
    )
    def publish_snapshot(
        context: dg.AssetExecutionContext, duckdb: DuckDBResource, build_settings: BuildSettings
    ) -> dg.MaterializeResult:
        """1. Describe this build, 2. read dbt's results, 3. write and swap in the snapshot."""
        dbt_results = snapshot_writer.read_dbt_results(dbt_target_dir() / "run_results.json")
        with duckdb.get_connection() as conn:
            info = snapshot_writer.BuildInfo(
                build_id=context.run_id,
                started_at=_run_started_at(context),
                finished_at=_now_business_time(),
                status="success",
                as_of=build_settings.as_of_date(conn),
                message=_tests_message(dbt_results),
            )
            published = snapshot_writer.publish_snapshot(conn, home().snapshot, info, dbt_results)
        context.log.info(f"published {published.path}")
        return dg.MaterializeResult(
            metadata={
                "path": dg.MetadataValue.path(str(published.path)),
                "as_of": str(info.as_of),
                "row_counts": published.row_counts,
            }
        )

    return publish_snapshot


def _now_business_time() -> dt.datetime:
    # Timestamps in the warehouse are Asia/Shanghai wall time, without offset.
    return dt.datetime.now(ZoneInfo(BUSINESS_TZ)).replace(tzinfo=None)


def _run_started_at(context: dg.AssetExecutionContext) -> dt.datetime:
    record = context.instance.get_run_record_by_id(context.run_id)
    if record is None or record.start_time is None:
        return _now_business_time()
    started = dt.datetime.fromtimestamp(record.start_time, ZoneInfo(BUSINESS_TZ))
    return started.replace(tzinfo=None)


def _tests_message(dbt_results: list[snapshot_writer.DbtResult]) -> str:
    tests = [r for r in dbt_results if r.resource_type in ("test", "unit_test")]
    passed = sum(r.status == "pass" for r in tests)
    return f"dbt tests: {passed} of {len(tests)} passed"
