"""Restock stage: card-key restock plan, purchase orders, low-stock alerts, funding plan.

Thin assets: each reads the marts and ``analytics.demand_forecast`` through the ``duckdb``
resource, calls the plain functions in ``forecasting.restock``, and replaces its table in one
transaction. Alert state must outlive ``CREATE OR REPLACE`` of schema ``analytics``, so it
lives in ``ops.low_stock_alert_state`` (one row per SKU per build date); a rebuild for the same
or an earlier date recomputes from the state before that date, so reruns change nothing.
"""

import datetime as dt

import dagster as dg
import pandas as pd
from dagster_duckdb import DuckDBResource

from cardpulse.settings import DEFAULT_RESTOCK, RestockSection, SettingsError, replace_section
from forecasting.restock import (
    SupplierTerms,
    advance_alerts,
    plan_card_keys,
    plan_funding,
    purchase_order_lines,
)
from forecasting.restock.deliveries import observed_batches, supplier_delays
from forecasting.restock.low_stock_alerts import FIRED
from forecasting.restock.output_schema import (
    ALERT_STATE_SCHEMA,
    FUNDING_SCHEMA,
    PLAN_SCHEMA,
    PO_SCHEMA,
)
from pipelines.assets.tables import insert_rows, replace_table, transaction
from pipelines.resources import WAREHOUSE_POOL, BuildSettings

GROUP = "restock"
OPS_SCHEMA = "ops"
ALERT_STATE_TABLE = f"{OPS_SCHEMA}.low_stock_alert_state"
FORECAST_KEY = dg.AssetKey("demand_forecast")
# The tables each plan reads (dbt marts, then the forecast) = its upstream assets.
RESTOCK_INPUTS = ("dim_skus", "dim_suppliers", "fct_inventory_daily", "fct_daily_sku_sales",
                  "dim_events", "demand_forecast")  # fmt: skip
FUNDING_INPUTS = ("dim_skus", "fct_supplier_balance_daily", "fct_daily_sku_sales", "dim_events",
                  "demand_forecast")  # fmt: skip
# Per SKU and day over all regions (a dbt view): the windows both plans read.
SKU_DAY_TOTALS = "intermediate.int_sku_day_totals"

# Each output's schema is declared once, in forecasting/restock/output_schema.py.
PLAN_TYPES = PLAN_SCHEMA
PO_TYPES = PO_SCHEMA
FUNDING_TYPES = FUNDING_SCHEMA
# The plan line of that day, so an alert keeps its numbers after the plan is replaced.
PLAN_FIELDS_KEPT = ["supplier_id", "on_hand", "on_order", "order_qty", "order_by",
                    "stockout_date", "reason_en", "reason_zh"]  # fmt: skip
STATE_TYPES = {**ALERT_STATE_SCHEMA, **{name: PLAN_SCHEMA[name] for name in PLAN_FIELDS_KEPT}}


# --- reading the marts -------------------------------------------------------------------


def read_skus(conn) -> pd.DataFrame:
    return conn.execute(
        "SELECT sku_id, name, category, brand, delivery_type, supplier_id, shelf_life_days,"
        " active FROM analytics.dim_skus ORDER BY sku_id"
    ).df()


def read_suppliers(conn) -> pd.DataFrame:
    return conn.execute(
        "SELECT supplier_id, name, lead_time_hours, min_order_qty, batch_size"
        " FROM analytics.dim_suppliers ORDER BY supplier_id"
    ).df()


def read_latest_inventory(conn, as_of: dt.date) -> pd.DataFrame:
    """Each SKU's last day-end snapshot before ``as_of``: what was known that morning."""
    return conn.execute(
        """SELECT sku_id, supplier_id, on_hand, on_order, expiring_7d, inventory_date
           FROM analytics.fct_inventory_daily WHERE inventory_date < ?
           QUALIFY row_number() OVER (PARTITION BY sku_id ORDER BY inventory_date DESC) = 1""",
        [as_of],
    ).df()


def read_late_delays(
    conn, as_of: dt.date, suppliers: pd.DataFrame, days: int = DEFAULT_RESTOCK.delay_history_days
) -> dict[str, tuple[float, ...]]:
    """Per supplier, the delay distribution learnt from the last ``days`` of inventory
    snapshots (``forecasting.restock.deliveries``); suppliers with too few batches seen are
    absent."""
    history = conn.execute(
        """SELECT sku_id, supplier_id, inventory_date, on_order
           FROM analytics.fct_inventory_daily WHERE inventory_date < ? AND inventory_date >= ?""",
        [as_of, as_of - dt.timedelta(days=days)],
    ).df()
    nominal = suppliers.set_index("supplier_id")["lead_time_hours"].map(
        lambda hours: SupplierTerms(lead_time_hours=hours).lead_days
    )
    delays = supplier_delays(observed_batches(history), nominal).dropna(subset=["delay_pmf"])
    return dict(zip(delays["supplier_id"], delays["delay_pmf"], strict=True))


def read_latest_balances(conn, as_of: dt.date) -> pd.DataFrame:
    return conn.execute(
        """SELECT supplier_id, CAST(balance AS DOUBLE) AS balance, balance_date
           FROM analytics.fct_supplier_balance_daily WHERE balance_date < ?
           QUALIFY row_number() OVER (PARTITION BY supplier_id ORDER BY balance_date DESC) = 1""",
        [as_of],
    ).df()


def read_forecast(conn) -> pd.DataFrame:
    return conn.execute(
        "SELECT sku_id, region_code, ds, yhat, yhat_lower, yhat_upper, interval_level"
        " FROM analytics.demand_forecast WHERE region_code = 'ALL'"
    ).df()


def read_gross_margin(conn, as_of: dt.date, lookback_days: int) -> pd.Series:
    """Gross margin per SKU over the lookback before ``as_of``: what ABC classes rank."""
    start = as_of - dt.timedelta(days=lookback_days)
    frame = conn.execute(
        f"""SELECT sku_id, CAST(sum(gross_margin) AS DOUBLE) AS gross_margin
           FROM {SKU_DAY_TOTALS} WHERE order_date >= ? AND order_date < ?
           GROUP BY sku_id""",
        [start, as_of],
    ).df()
    return frame.set_index("sku_id")["gross_margin"]


def read_largest_recent_day(
    conn, as_of: dt.date, days: int = DEFAULT_RESTOCK.peak_window_days
) -> pd.Series:
    """Per SKU, the most units sold on one day (all regions) in the ``days`` before as_of."""
    frame = conn.execute(
        f"""SELECT sku_id, max(units) AS largest_day FROM {SKU_DAY_TOTALS}
           WHERE order_date >= ? AND order_date < ? GROUP BY sku_id""",
        [as_of - dt.timedelta(days=days), as_of],
    ).df()
    return frame.set_index("sku_id")["largest_day"].astype(float)


def read_unit_costs(
    conn, as_of: dt.date, days: int = DEFAULT_RESTOCK.unit_cost_lookback_days
) -> pd.Series:
    """Units-weighted unit cost per SKU over the last ``days`` (4 weeks), else all history."""
    start = as_of - dt.timedelta(days=days)
    frame = conn.execute(
        f"""SELECT sku_id,
                  CAST(coalesce(
                      sum(costed_cost) FILTER (WHERE order_date >= ?)
                        / nullif(sum(costed_units) FILTER (WHERE order_date >= ?), 0),
                      sum(costed_cost) / nullif(sum(costed_units), 0)
                  ) AS DOUBLE) AS unit_cost
           FROM {SKU_DAY_TOTALS} WHERE order_date < ?
           GROUP BY sku_id""",
        [start, start, as_of],
    ).df()
    return frame.set_index("sku_id")["unit_cost"].dropna()


def read_events(conn) -> pd.DataFrame:
    return conn.execute("SELECT name, start_date, end_date, scope FROM analytics.dim_events").df()


def require_tables(conn, *tables: str) -> None:
    """Fail the asset with one clear line when a table it reads was not built."""
    present = {
        f"{schema}.{name}"
        for schema, name in conn.execute(
            "SELECT table_schema, table_name FROM information_schema.tables"
        ).fetchall()
    }
    missing = [table for table in tables if table not in present]
    if missing:
        raise dg.Failure(f"restock needs {', '.join(missing)}: build the stages before it first")


# --- writing -----------------------------------------------------------------------------


# --- assets ------------------------------------------------------------------------------


class RestockConfig(dg.Config):
    """Run-config overrides of ``[restock]`` in cardpulse.toml for one run; a knob left unset
    (None) keeps the file's value (``cardpulse.settings.RestockSection``)."""

    service_level_a: float | None = None
    service_level_b: float | None = None
    service_level_c: float | None = None
    cycle_days: int | None = None
    late_buffer_days: int | None = None
    # Learn each supplier's delays from its deliveries in the inventory history and size
    # each SKU's late cover from them; suppliers with too few batches seen keep
    # late_buffer_days.
    learn_late_cover: bool | None = None
    # With learnt delays: the probability that late batches leave a day short of keys.
    late_in_stock: float | None = None

    def section(self, base: RestockSection) -> RestockSection:
        """``base`` with this run's overrides, checked like cardpulse.toml's keys."""
        changes = {k: v for k, v in self.model_dump().items() if v is not None}
        try:
            return replace_section(base, source="restock run config", **changes)
        except SettingsError as error:
            raise dg.Failure(str(error)) from error


@dg.asset(
    group_name=GROUP,
    pool=WAREHOUSE_POOL,
    kinds={"duckdb", "python"},
    deps=[*RESTOCK_INPUTS[:-1], "int_sku_day_totals", FORECAST_KEY],
)  # fmt: skip
def restock_plan(
    context: dg.AssetExecutionContext,
    config: RestockConfig,
    duckdb: DuckDBResource,
    build_settings: BuildSettings,
) -> dg.MaterializeResult:
    """Card-key restock plan (``analytics.restock_plan``): one line per card-key SKU.

    1. Read SKUs, suppliers, the last stock snapshot before as_of, the SKU-total forecast,
       trailing gross margin (ABC) and unit costs; 2. plan; 3. replace the table.
    """
    knobs = config.section(build_settings.settings().restock)
    policy = knobs.policy()
    with duckdb.get_connection() as conn:
        require_tables(conn, *(f"analytics.{t}" for t in RESTOCK_INPUTS), SKU_DAY_TOTALS)
        as_of = build_settings.as_of_date(conn)
        suppliers = read_suppliers(conn)
        late_delays = (
            read_late_delays(conn, as_of, suppliers, knobs.delay_history_days)
            if knobs.learn_late_cover
            else None
        )
        plan = plan_card_keys(
            read_skus(conn), suppliers, read_latest_inventory(conn, as_of),
            read_forecast(conn), as_of, build_settings.horizon_days,
            gross_margin=read_gross_margin(conn, as_of, policy.margin_lookback_days),
            unit_costs=read_unit_costs(conn, as_of, knobs.unit_cost_lookback_days),
            dim_events=read_events(conn), policy=policy,
            largest_recent_day=read_largest_recent_day(conn, as_of, knobs.peak_window_days),
            late_delays=late_delays,
        )  # fmt: skip
        with transaction(conn):
            replace_table(conn, "analytics.restock_plan", plan, PLAN_TYPES)
    ordering = plan[plan["order_qty"] > 0]
    context.log.info(f"restock plan as of {as_of}: {len(plan)} SKUs, {len(ordering)} to order")
    return dg.MaterializeResult(
        metadata={
            "as_of": as_of.isoformat(),
            "dagster/row_count": len(plan),
            "skus_to_order": len(ordering),
            "keys_to_order": int(ordering["order_qty"].sum()),
        }
    )


@dg.asset(group_name=GROUP, pool=WAREHOUSE_POOL, kinds={"duckdb", "python"},
          deps=[restock_plan, "dim_skus", "dim_suppliers"])  # fmt: skip
def purchase_orders(duckdb: DuckDBResource) -> dg.MaterializeResult:
    """Purchase orders per supplier (``analytics.purchase_orders``): the plan's order lines
    with quantities, batches, cost and whether the MOQ is met. Export with
    ``forecasting.restock.export_purchase_orders(lines, "csv" | "xlsx")``."""
    with duckdb.get_connection() as conn:
        plan = conn.execute("SELECT * FROM analytics.restock_plan").df()
        plan["unit_cost"] = plan["unit_cost"].astype(float)
        lines = purchase_order_lines(plan, read_suppliers(conn), read_skus(conn))
        with transaction(conn):
            replace_table(conn, "analytics.purchase_orders", lines, PO_TYPES)
    return dg.MaterializeResult(
        metadata={
            "dagster/row_count": len(lines),
            "purchase_orders": int(lines["po_id"].nunique()),
            "moq_not_met": int((~lines["moq_met"].astype(bool)).sum()),
        }
    )


@dg.asset(group_name=GROUP, pool=WAREHOUSE_POOL, kinds={"duckdb", "python"}, deps=[restock_plan])
def low_stock_alerts(
    context: dg.AssetExecutionContext, duckdb: DuckDBResource
) -> dg.MaterializeResult:
    """Low-stock alerts (``analytics.low_stock_alerts``) that fire once per crossing.

    1. Last state per SKU from ``ops.low_stock_alert_state`` before this plan's as_of;
    2. advance the state machine with today's position and reorder point; 3. in one
    transaction, drop state rows from as_of on and insert today's; 4. publish every alert
    ever fired with whether it is still open.
    """
    with duckdb.get_connection() as conn:
        plan = conn.execute("SELECT * FROM analytics.restock_plan").df()
        if plan.empty:
            as_of = None
            new_state = pd.DataFrame(columns=list(STATE_TYPES))
        else:
            as_of = pd.Timestamp(plan["as_of"].iloc[0]).date()
        _ensure_alert_state(conn)
        if as_of is not None:
            previous = conn.execute(
                f"""SELECT * FROM {ALERT_STATE_TABLE} WHERE as_of < ?
                    QUALIFY row_number() OVER (PARTITION BY sku_id ORDER BY as_of DESC) = 1""",
                [as_of],
            ).df()
            new_state = advance_alerts(previous, plan, as_of).merge(
                plan[["sku_id", *PLAN_FIELDS_KEPT]], on="sku_id", how="left"
            )

        def write() -> None:
            if as_of is not None:
                conn.execute(f"DELETE FROM {ALERT_STATE_TABLE} WHERE as_of >= ?", [as_of])
                insert_rows(conn, ALERT_STATE_TABLE, new_state, STATE_TYPES)
            conn.execute(_ALERTS_SQL)

        with transaction(conn):
            write()
        open_alerts = conn.execute(
            "SELECT count(*) FILTER (WHERE is_open), count(*) FILTER (WHERE is_new)"
            " FROM analytics.low_stock_alerts"
        ).fetchone()
    fired = int((new_state["event"] == FIRED).sum())
    context.log.info(f"low-stock alerts: {fired} fired today, {open_alerts[0]} open")
    return dg.MaterializeResult(metadata={"fired_today": fired, "open_alerts": int(open_alerts[0])})


def _ensure_alert_state(conn) -> None:
    columns = ", ".join(f"{name} {sql_type}" for name, sql_type in STATE_TYPES.items())
    conn.execute(f"CREATE SCHEMA IF NOT EXISTS {OPS_SCHEMA}")
    conn.execute(f"CREATE TABLE IF NOT EXISTS {ALERT_STATE_TABLE} ({columns})")


# Every firing with its plan line of that day; open while the SKU has not re-armed since
# (restocked back above its reorder point). is_new marks those fired by the newest build.
_ALERTS_SQL = f"""
CREATE OR REPLACE TABLE analytics.low_stock_alerts AS
WITH latest AS (
    SELECT sku_id, state FROM {ALERT_STATE_TABLE}
    QUALIFY row_number() OVER (PARTITION BY sku_id ORDER BY as_of DESC) = 1
),
newest_build AS (SELECT max(as_of) AS as_of FROM {ALERT_STATE_TABLE})
SELECT
    fired.sku_id,
    fired.supplier_id,
    fired.as_of AS fired_on,
    fired.on_hand,
    fired.on_order,
    fired.position,
    fired.reorder_point,
    latest.state = '{FIRED}'
        AND NOT EXISTS (
            SELECT 1 FROM {ALERT_STATE_TABLE} AS later
            WHERE later.sku_id = fired.sku_id AND later.as_of > fired.as_of
              AND later.event = '{FIRED}'
        ) AS is_open,
    fired.as_of = newest_build.as_of AS is_new,
    fired.order_qty,
    fired.order_by,
    fired.stockout_date,
    fired.reason_en AS reason,
    fired.reason_zh,
    fired.reason_en
FROM {ALERT_STATE_TABLE} AS fired
JOIN latest USING (sku_id)
CROSS JOIN newest_build
WHERE fired.event = '{FIRED}'
ORDER BY fired.as_of DESC, fired.sku_id
"""


@dg.asset(
    group_name=GROUP,
    pool=WAREHOUSE_POOL,
    kinds={"duckdb", "python"},
    deps=[*FUNDING_INPUTS[:-1], "int_sku_day_totals", FORECAST_KEY],
)  # fmt: skip
def funding_plan(
    context: dg.AssetExecutionContext, duckdb: DuckDBResource, build_settings: BuildSettings
) -> dg.MaterializeResult:
    """Prepaid funding plan for direct top-ups (``analytics.funding_plan``), per supplier:
    forecast daily cost, days the balance covers, top-up amount and the day it must arrive."""
    with duckdb.get_connection() as conn:
        require_tables(conn, *(f"analytics.{t}" for t in FUNDING_INPUTS), SKU_DAY_TOTALS)
        as_of = build_settings.as_of_date(conn)
        unit_cost_days = build_settings.settings().restock.unit_cost_lookback_days
        plan = plan_funding(
            read_skus(conn), read_latest_balances(conn, as_of), read_forecast(conn),
            read_unit_costs(conn, as_of, unit_cost_days), as_of, build_settings.horizon_days,
            dim_events=read_events(conn),
        )  # fmt: skip
        with transaction(conn):
            replace_table(conn, "analytics.funding_plan", plan, FUNDING_TYPES)
    topping_up = plan[plan["topup_amount"] > 0]
    context.log.info(f"funding plan as of {as_of}: {len(topping_up)} of {len(plan)} to top up")
    return dg.MaterializeResult(
        metadata={
            "as_of": as_of.isoformat(),
            "dagster/row_count": len(plan),
            "suppliers_to_top_up": len(topping_up),
            "topup_total": float(topping_up["topup_amount"].sum()),
        }
    )
