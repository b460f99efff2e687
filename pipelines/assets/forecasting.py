"""Forecasting stage: daily demand per SKU (all regions and per region) and per merchant.

One thin step: read the marts through the ``duckdb`` resource, call
``forecasting.demand.pipeline.forecast_demand``, and replace ``analytics.demand_forecast``,
``analytics.forecast_backtest`` and ``analytics.merchant_demand_forecast`` in one transaction
(they come from the same fits, so they are written together or not at all).
"""

import dagster as dg
import pandas as pd
from dagster_duckdb import DuckDBResource

from pipelines.assets.tables import replace_table, transaction
from pipelines.resources import WAREHOUSE_POOL, BuildSettings
from pipelines.settings import home

GROUP = "forecasting"
MART_DEPS = [
    "fct_daily_sku_sales",
    "dim_skus",
    "fct_inventory_daily",
    "dim_events",
    "fct_daily_merchant_sales",
]

FORECAST_TYPES = {
    "sku_id": "VARCHAR", "region_code": "VARCHAR", "ds": "DATE", "yhat": "DOUBLE",
    "yhat_lower": "DOUBLE", "yhat_upper": "DOUBLE", "interval_level": "INTEGER",
    "model": "VARCHAR", "as_of": "DATE", "yhat_lower_95": "DOUBLE", "yhat_upper_95": "DOUBLE",
    "yhat_median": "DOUBLE",
}  # fmt: skip
BACKTEST_TYPES = {
    "sku_id": "VARCHAR", "region_code": "VARCHAR", "model": "VARCHAR", "wape": "DOUBLE",
    "mase": "DOUBLE", "bias": "DOUBLE", "interval_coverage": "DOUBLE", "is_selected": "BOOLEAN",
    "coverage_95": "DOUBLE", "folds": "INTEGER", "days": "INTEGER", "reason": "VARCHAR",
    "as_of": "DATE",
}  # fmt: skip
MERCHANT_TYPES = {
    "merchant_id": "VARCHAR", "sku_id": "VARCHAR", "ds": "DATE", "yhat": "DOUBLE",
    "yhat_lower": "DOUBLE", "yhat_upper": "DOUBLE", "interval_level": "INTEGER",
    "model": "VARCHAR", "as_of": "DATE", "yhat_lower_95": "DOUBLE", "yhat_upper_95": "DOUBLE",
}  # fmt: skip
TABLES = {
    "demand_forecast": FORECAST_TYPES,
    "forecast_backtest": BACKTEST_TYPES,
    "merchant_demand_forecast": MERCHANT_TYPES,
}


def _progress_logger(context: dg.AssetExecutionContext):
    """Log at every tenth of the SKUs, not every chunk: quiet but alive."""
    last = {"tenth": -1}

    def progress(done: int, total: int) -> None:
        tenth = (10 * done) // max(total, 1)
        if tenth != last["tenth"]:
            last["tenth"] = tenth
            context.log.info(f"demand forecast: {done}/{total} SKUs")

    return progress


@dg.multi_asset(
    pool=WAREHOUSE_POOL,
    specs=[
        dg.AssetSpec("demand_forecast", group_name=GROUP, kinds={"duckdb", "python"},
                     deps=MART_DEPS,
                     description="Daily demand per SKU (region ALL and per region), 80% and "
                     "95% intervals"),
        dg.AssetSpec("forecast_backtest", group_name=GROUP, kinds={"duckdb", "python"},
                     deps=MART_DEPS,
                     description="Rolling-origin backtest scores of every candidate model"),
        dg.AssetSpec("merchant_demand_forecast", group_name=GROUP, kinds={"duckdb", "python"},
                     deps=MART_DEPS,
                     description="Daily demand per merchant (total and top SKUs)"),
    ],
)  # fmt: skip
def demand_forecast(
    context: dg.AssetExecutionContext, duckdb: DuckDBResource, build_settings: BuildSettings
):
    """1. Read the marts up to as_of; 2. backtest, select and forecast per SKU over worker
    processes (or a Spark job: ``engine.forecast_executor``); 3. split to regions and
    merchants; 4. replace the three tables at once. With ``engine.forecast_refit_days`` > 1 a
    recent fit that still holds is kept instead (``pipelines.forecast_refit``)."""
    from forecasting.demand.inputs import load_demand_inputs
    from forecasting.demand.pipeline import forecast_demand
    from pipelines.forecast_refit import refit_decision

    installation_settings = build_settings.settings()
    engine = installation_settings.engine
    with duckdb.get_connection() as conn:
        as_of = build_settings.as_of_date(conn)
        decision = refit_decision(conn, as_of, engine.forecast_refit_days)
        if not decision.refit:
            counts = {
                table: conn.execute(f"SELECT count(*) FROM analytics.{table}").fetchone()[0]
                for table in TABLES
            }
        else:
            inputs = load_demand_inputs(conn, as_of)
    context.log.info(f"demand forecast: {decision.reason}")
    if not decision.refit:
        for table, rows in counts.items():
            yield dg.MaterializeResult(
                asset_key=table,
                metadata={
                    "dagster/row_count": rows,
                    "as_of": str(decision.fitted_as_of),
                    "kept": decision.reason,
                },
            )
        return
    settings = installation_settings.forecast.engine_settings()
    spark = None
    if engine.forecast_executor == "spark":
        from pipelines.spark_build import spark_session

        spark = spark_session(engine, home().root / "spark")
    tables = forecast_demand(
        inputs, as_of, settings, progress=_progress_logger(context), spark=spark
    )
    frames = {
        "demand_forecast": tables.forecast,
        "forecast_backtest": tables.backtest,
        "merchant_demand_forecast": tables.merchant_forecast,
    }
    with duckdb.get_connection() as conn:
        conn.execute("CREATE SCHEMA IF NOT EXISTS analytics")
        with transaction(conn):
            for table, types in TABLES.items():
                replace_table(conn, f"analytics.{table}", frames[table], types)
    selected = tables.backtest[
        tables.backtest["is_selected"] & (tables.backtest["region_code"] == "ALL")
    ]
    by_model = selected["model"].value_counts().sort_index().to_dict()
    for table, frame in frames.items():
        metadata = {"dagster/row_count": len(frame), "as_of": str(as_of)}
        if table == "forecast_backtest":
            metadata["selected_models"] = dg.MetadataValue.json(
                {k: int(v) for k, v in by_model.items()}
            )
            classes = pd.Series([r.demand_class for r in tables.results]).value_counts()
            metadata["demand_classes"] = dg.MetadataValue.json(
                {k: int(v) for k, v in classes.sort_index().items()}
            )
            if len(tables.rules):
                chosen = tables.rules[tables.rules["is_chosen"]]
                metadata["selection_rules"] = dg.MetadataValue.json(
                    dict(zip(chosen["demand_class"], chosen["rule"], strict=True))
                )
            median = selected["wape"].median() if len(selected) else float("nan")
            if pd.notna(median):
                metadata["median_wape_selected"] = float(median)
        yield dg.MaterializeResult(asset_key=table, metadata=metadata)
