"""Pricing stage: elasticities and guarded price recommendations per SKU x region.

Thin assets: each reads the marts through the ``duckdb`` resource, calls the plain functions
in ``forecasting.pricing``, and replaces its table in one transaction. The guardrails are
``settings().pricing`` of the ``build_settings`` resource: the shipped defaults overridden
by ``$CARDPULSE_HOME/pricing.toml`` and ``[pricing]`` of ``cardpulse.toml``.
"""

import datetime as dt

import dagster as dg
import pandas as pd
from dagster_duckdb import DuckDBResource

from forecasting.pricing import (
    estimate_elasticities,
    pricing_items,
    recommend_prices,
)
from forecasting.pricing.output_schema import ELASTICITY_SCHEMA, RECOMMENDATION_SCHEMA
from pipelines.assets.tables import replace_table, transaction
from pipelines.resources import WAREHOUSE_POOL, BuildSettings

GROUP = "pricing"
FORECAST_KEY = dg.AssetKey("demand_forecast")
RESTOCK_KEY = dg.AssetKey("restock_plan")
HISTORY_DAYS = 730
# Buyers whose province is unknown are a mix of regions: no price can be set for them.
UNPRICED_REGIONS = ("UNKNOWN",)


# --- reading the marts -------------------------------------------------------------------


def read_daily_sales(conn, as_of: dt.date) -> pd.DataFrame:
    start = as_of - dt.timedelta(days=HISTORY_DAYS)
    return conn.execute(
        """SELECT sku_id, region_code, order_date, CAST(units AS DOUBLE) AS units,
                  CAST(orders AS DOUBLE) AS orders,
                  CAST(avg_unit_price AS DOUBLE) AS avg_unit_price,
                  CAST(avg_list_price AS DOUBLE) AS avg_list_price,
                  CAST(avg_unit_cost AS DOUBLE) AS avg_unit_cost
           FROM analytics.fct_daily_sku_sales
           WHERE order_date >= ? AND order_date < ?""",
        [start, as_of],
    ).df()


def read_skus(conn) -> pd.DataFrame:
    return conn.execute(
        "SELECT sku_id, category, brand, CAST(face_value AS DOUBLE) AS face_value,"
        " delivery_type, active FROM analytics.dim_skus ORDER BY sku_id"
    ).df()


def read_events(conn) -> pd.DataFrame:
    return conn.execute("SELECT name, start_date, end_date, scope FROM analytics.dim_events").df()


def read_stockout_days(conn, as_of: dt.date) -> pd.DataFrame:
    return conn.execute(
        """SELECT sku_id, inventory_date AS ds FROM analytics.fct_inventory_daily
           WHERE is_stockout AND inventory_date < ?""",
        [as_of],
    ).df()


def read_latest_inventory(conn, as_of: dt.date) -> pd.DataFrame:
    return conn.execute(
        """SELECT sku_id, inventory_date, on_hand, expiring_7d FROM analytics.fct_inventory_daily
           WHERE inventory_date < ?
           QUALIFY row_number() OVER (PARTITION BY sku_id ORDER BY inventory_date DESC) = 1""",
        [as_of],
    ).df()


def read_optional(conn, table: str, sql: str, params=()) -> pd.DataFrame | None:
    """A table another stage writes, or None when that stage has not run in this warehouse."""
    schema, name = table.split(".")
    exists = conn.execute(
        "SELECT count(*) FROM information_schema.tables WHERE table_schema = ? AND table_name = ?",
        [schema, name],
    ).fetchone()[0]
    return conn.execute(sql, list(params)).df() if exists else None


def elasticities_from_marts(conn, as_of: dt.date, config) -> pd.DataFrame:
    """1. Two years of daily sales of active SKUs, SKUs, events and stockout days before
    ``as_of``; 2. ``estimate_elasticities`` with ``config.elasticity`` (the stage's whole
    computation, which the pricing bench runs too)."""
    daily = read_daily_sales(conn, as_of)
    skus = read_skus(conn)
    events = read_events(conn)
    stockouts = read_stockout_days(conn, as_of)
    active = set(skus.loc[skus["active"].fillna(False).astype(bool), "sku_id"])
    daily = daily[daily["sku_id"].isin(active)]
    return estimate_elasticities(daily, skus, as_of, config.elasticity, events, stockouts)


def recommendations_from_marts(
    conn, as_of: dt.date, config, horizon: int, elasticities: pd.DataFrame
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(the SKU x region situations, the recommendations): 1. sales, SKUs, the latest stock,
    and the forecast and restock plan where those stages ran; 2. ``pricing_items``;
    3. ``recommend_prices`` under ``config``'s guardrails."""
    daily = read_daily_sales(conn, as_of)
    skus = read_skus(conn)
    inventory = read_latest_inventory(conn, as_of)
    forecast = read_optional(
        conn, "analytics.demand_forecast",
        "SELECT sku_id, region_code, ds, yhat, yhat_lower, yhat_upper"
        " FROM analytics.demand_forecast WHERE ds >= ?", [as_of],
    )  # fmt: skip
    restock = read_optional(
        conn, "analytics.restock_plan",
        "SELECT sku_id, days_of_cover FROM analytics.restock_plan",
    )  # fmt: skip
    daily = daily[~daily["region_code"].isin(UNPRICED_REGIONS)]
    items = pricing_items(daily, skus, as_of, horizon, forecast, inventory, restock)
    return items, recommend_prices(items, elasticities, config, as_of, horizon)


# --- assets ------------------------------------------------------------------------------


@dg.asset(
    group_name=GROUP,
    pool=WAREHOUSE_POOL,
    kinds={"duckdb", "python"},
    # After the forecasts: their refit decision is this asset's too (engine.forecast_refit_days).
    deps=["fct_daily_sku_sales", "dim_skus", "dim_events", "fct_inventory_daily", FORECAST_KEY],
)
def price_elasticities(
    context: dg.AssetExecutionContext, duckdb: DuckDBResource, build_settings: BuildSettings
) -> dg.MaterializeResult:
    """Elasticity per SKU x region and per SKU (``analytics.price_elasticities``).

    1. Read two years of daily sales, SKUs, events and stockout days before as_of;
    2. estimate with controls and partial pooling; 3. replace the table. With
    ``engine.forecast_refit_days`` > 1 the estimates are kept whenever the forecasts were
    (``pipelines.forecast_refit.elasticity_refit_decision``).
    """
    from pipelines.forecast_refit import elasticity_refit_decision

    settings = build_settings.settings()
    config = settings.pricing
    with duckdb.get_connection() as conn:
        as_of = build_settings.as_of_date(conn)
        decision = elasticity_refit_decision(conn, settings.engine.forecast_refit_days)
        if not decision.refit:
            (rows,) = conn.execute("SELECT count(*) FROM analytics.price_elasticities").fetchone()
        else:
            estimates = elasticities_from_marts(conn, as_of, config)
    context.log.info(f"price elasticities: {decision.reason}")
    if not decision.refit:
        return dg.MaterializeResult(
            metadata={
                "dagster/row_count": rows,
                "as_of": str(decision.fitted_as_of),
                "kept": decision.reason,
            }
        )
    estimates["as_of"] = as_of
    with duckdb.get_connection() as conn, transaction(conn):
        replace_table(conn, "analytics.price_elasticities", estimates, ELASTICITY_SCHEMA)
    regional = estimates[estimates["region_code"] != "ALL"]
    context.log.info(f"elasticities for {estimates['sku_id'].nunique()} SKUs as of {as_of}")
    return dg.MaterializeResult(
        metadata={
            "dagster/row_count": len(estimates),
            "as_of": str(as_of),
            "skus": int(estimates["sku_id"].nunique()),
            "regions_with_own_variation": int((regional["price_variation"] == "own").sum()),
            "skus_without_variation": int(
                (estimates.query("region_code == 'ALL'")["price_variation"] == "none").sum()
            ),
        }
    )


@dg.asset(
    group_name=GROUP,
    pool=WAREHOUSE_POOL,
    kinds={"duckdb", "python"},
    deps=[price_elasticities, "fct_daily_sku_sales", "dim_skus", "fct_inventory_daily",
          FORECAST_KEY, RESTOCK_KEY],
)  # fmt: skip
def price_recommendations(
    context: dg.AssetExecutionContext, duckdb: DuckDBResource, build_settings: BuildSettings
) -> dg.MaterializeResult:
    """Guarded profit-maximising price per SKU x region (``analytics.price_recommendations``).

    1. Read sales, SKUs, the forecast and stock (each optional beyond sales and SKUs) and the
       elasticities; 2. build each SKU x region's situation; 3. recommend under the
       guardrails; 4. replace the table.
    """
    config = build_settings.settings().pricing
    horizon = build_settings.horizon_days
    with duckdb.get_connection() as conn:
        as_of = build_settings.as_of_date(conn)
        elasticities = conn.execute("SELECT * FROM analytics.price_elasticities").df()
        _, recommendations = recommendations_from_marts(conn, as_of, config, horizon, elasticities)
    with duckdb.get_connection() as conn, transaction(conn):
        replace_table(
            conn, "analytics.price_recommendations", recommendations, RECOMMENDATION_SCHEMA
        )
    actions = recommendations["action"].value_counts().to_dict()
    context.log.info(f"price recommendations as of {as_of}: {actions}")
    return dg.MaterializeResult(
        metadata={
            "dagster/row_count": len(recommendations),
            "as_of": str(as_of),
            **{f"action_{name}": int(count) for name, count in actions.items()},
            "expected_profit_change": float(recommendations["expected_profit_change"].sum()),
        }
    )
