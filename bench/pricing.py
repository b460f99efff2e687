"""Pricing bench: elasticity error and profit capture against the simulator's ground truth.

Usage: .venv/bin/python bench/pricing.py [--scale medium] [--seed 0] [--data DIR]
       [--warehouse FILE] [--horizon 28]

1. Generate the simulated export once (``pipelines.simulator.generate``, Parquet) into
   ``--data`` (default ``bench/out/pricing/export-<scale>``), or use the one there.
2. Build the daily SKU x region frame: from ``--warehouse`` (the real marts, when a build has
   run) or straight from the export with DuckDB under the contract's rules (latest row per
   order_id; demand = paid, delivered, failed, refunded; business day = created_at's date).
3. Estimate elasticities (``forecasting.pricing``) as of the day after the export ends and
   score them against ``_truth/elasticities.csv``: median absolute error over SKU x regions
   whose own price varied enough, and over all.
4. Recommend prices under the shipped guardrails, and score the true expected gross profit
   over the horizon (``_truth/expected_demand.parquet``: baseline units at the reference price
   x (price / reference) ^ true elasticity x (price - true unit cost)) at: the current price,
   CardPulse's price, the oracle's price (the best allowed price under the same guardrails
   knowing the truth), and a cost-plus fixed-markup rule (cost x (1 + the catalogue's median
   current markup), with the same price endings). Print profit capture, guardrail violations
   and the uplift in yuan per week side by side.
5. A reference: the elasticity error of an estimator that knows each day's true baseline
   demand (:func:`known_baseline_elasticities`), on the same SKUs.
"""

from __future__ import annotations

import argparse
import datetime as dt
import sys
import time
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from export_data import create_demand_orders, ensure_export, export_files  # noqa: E402

from forecasting.pricing import (  # noqa: E402
    PriceSituation,
    estimate_elasticities,
    guardrail_violations,
    load_pricing_config,
    pricing_items,
    recommend_prices,
)
from forecasting.pricing.guardrails import allowed_prices  # noqa: E402

HEAVY_SELLER_UNITS = 50_000
TARGETS = {"elasticity_mae": 0.15, "profit_capture": 0.9, "violations": 0}


def marts_from_export(data: Path) -> dict[str, pd.DataFrame]:
    """fct_daily_sku_sales, dim_skus, dim_events, stockout days and the latest inventory,
    rebuilt from the export files with the contract's rules."""
    conn = duckdb.connect()
    create_demand_orders(conn, data)
    daily = conn.execute("""
        SELECT sku_id, coalesce(region_code, 'UNKNOWN') AS region_code,
               created_at::DATE AS order_date, sum(quantity)::DOUBLE AS units,
               count(*)::DOUBLE AS orders,
               (sum(quantity * unit_price) / sum(quantity))::DOUBLE AS avg_unit_price,
               (sum(quantity * list_price) / sum(quantity) FILTER (WHERE list_price IS NOT NULL))
                   ::DOUBLE AS avg_list_price,
               (sum(quantity * unit_cost) / sum(quantity) FILTER (WHERE unit_cost IS NOT NULL))
                   ::DOUBLE AS avg_unit_cost
        FROM orders GROUP BY ALL""").df()
    skus = conn.execute(
        f"SELECT sku_id, category, brand, face_value::DOUBLE AS face_value, delivery_type,"
        f" active FROM {export_files(data, 'skus')}"
    ).df()
    inventory_days = conn.execute(f"""
        WITH last AS (
            SELECT sku_id, as_of::DATE AS inventory_date, arg_max(on_hand, as_of) AS on_hand,
                   arg_max(expiring_7d, as_of) AS expiring_7d
            FROM {export_files(data, "inventory")} GROUP BY ALL),
        sold AS (SELECT sku_id, created_at::DATE AS inventory_date, sum(quantity) AS units
                 FROM orders GROUP BY ALL)
        SELECT l.*, l.on_hand = 0 OR (lag(l.on_hand) OVER w = 0 AND coalesce(s.units, 0) = 0)
                   AS is_stockout
        FROM last l LEFT JOIN sold s USING (sku_id, inventory_date)
        WINDOW w AS (PARTITION BY l.sku_id ORDER BY l.inventory_date)""").df()
    events_file = export_files(data, "events")
    events = (
        conn.execute(f"SELECT name, start_date, end_date, scope FROM {events_file}").df()
        if events_file
        else pd.DataFrame(columns=["name", "start_date", "end_date", "scope"])
    )
    conn.close()
    return _marts(daily, skus, events, inventory_days)


def marts_from_warehouse(path: Path) -> dict[str, pd.DataFrame]:
    with duckdb.connect(str(path), read_only=True) as conn:
        daily = conn.execute(
            """SELECT sku_id, region_code, order_date, units::DOUBLE AS units,
                      orders::DOUBLE AS orders,
                      avg_unit_price::DOUBLE AS avg_unit_price,
                      avg_list_price::DOUBLE AS avg_list_price,
                      avg_unit_cost::DOUBLE AS avg_unit_cost FROM analytics.fct_daily_sku_sales"""
        ).df()
        skus = conn.execute(
            "SELECT sku_id, category, brand, face_value::DOUBLE AS face_value, delivery_type,"
            " active FROM analytics.dim_skus"
        ).df()
        events = conn.execute(
            "SELECT name, start_date, end_date, scope FROM analytics.dim_events"
        ).df()
        inventory_days = conn.execute(
            "SELECT sku_id, inventory_date, on_hand, expiring_7d, is_stockout"
            " FROM analytics.fct_inventory_daily"
        ).df()
    return _marts(daily, skus, events, inventory_days)


def _marts(daily, skus, events, inventory_days) -> dict[str, pd.DataFrame]:
    card_keys = set(skus.loc[skus["delivery_type"] == "card_key", "sku_id"])
    stockouts = inventory_days[
        inventory_days["is_stockout"].fillna(False).astype(bool)
        & inventory_days["sku_id"].isin(card_keys)
    ][["sku_id", "inventory_date"]].rename(columns={"inventory_date": "ds"})
    return {
        "daily": daily,
        "skus": skus,
        "events": events,
        "stockouts": stockouts,
        "inventory_days": inventory_days,
    }


def true_horizon(data: Path, as_of: dt.date, horizon: int) -> pd.DataFrame:
    """Per SKU x region over the horizon: sum of true baseline units at the reference price,
    sum of baseline x unit cost, the reference price and the true elasticity."""
    end = as_of + dt.timedelta(days=horizon)
    return duckdb.sql(f"""
        SELECT sku_id, region_code, sum(baseline_units) AS baseline_units,
               sum(baseline_units * unit_cost) AS baseline_cost,
               any_value(reference_price) AS reference_price,
               any_value(elasticity) AS true_elasticity
        FROM read_parquet('{data / "_truth" / "expected_demand.parquet"}')
        WHERE ds::DATE >= DATE '{as_of}' AND ds::DATE < DATE '{end}'
        GROUP BY ALL""").df()


def true_profit(price, truth_row) -> np.ndarray:
    """True expected gross profit over the horizon at ``price``."""
    price = np.asarray(price, dtype=float)
    demand = (price / truth_row.reference_price) ** truth_row.true_elasticity
    return demand * (price * truth_row.baseline_units - truth_row.baseline_cost)


def _situation(row) -> PriceSituation:
    return PriceSituation(
        current_price=float(row.current_price),
        unit_cost=float(row.unit_cost),
        category=row.category,
        face_value=None if pd.isna(row.face_value) else float(row.face_value),
        national_price=None if pd.isna(row.national_price) else float(row.national_price),
        days_of_cover=None if pd.isna(row.days_of_cover) else float(row.days_of_cover),
        has_expiring_surplus=bool(row.has_expiring_surplus),
    )


def _snap_to_ending(price: float, rails) -> float:
    """The nearest price with an allowed ending (the cost-plus rule's rounding)."""
    if price >= rails.whole_yuan_above:
        return float(round(price))
    base = np.floor(price) + np.array([-1.0, 0.0])
    options = (base[:, None] + np.array(rails.price_endings or (0.0,))[None, :]).ravel()
    options = options[options > 0]
    return float(options[np.argmin(np.abs(options - price))]) if options.size else price


def score_prices(recommendations, truth, config, markup) -> pd.DataFrame:
    """Per SKU x region: true profit at current, CardPulse, oracle and cost-plus prices."""
    merged = recommendations.merge(truth, on=["sku_id", "region_code"], how="inner")
    rows = []
    for row in merged.itertuples(index=False):
        if row.action == "no_cost":
            continue
        rails = config.guardrails_for(row.category)
        situation = _situation(row)
        candidates, _ = allowed_prices(situation, rails)
        oracle = float(candidates[np.argmax(true_profit(candidates, row))])
        cost_plus = _snap_to_ending(row.unit_cost * (1 + markup), rails)
        rows.append(
            {
                "sku_id": row.sku_id,
                "region_code": row.region_code,
                "action": row.action,
                "current": float(true_profit(row.current_price, row)),
                "cardpulse": float(true_profit(row.recommended_price, row)),
                "oracle": float(true_profit(oracle, row)),
                "cost_plus": float(true_profit(cost_plus, row)),
                "cardpulse_violations": len(
                    guardrail_violations(float(row.recommended_price), situation, rails)
                ),
                "oracle_violations": len(guardrail_violations(oracle, situation, rails)),
                "cost_plus_violations": len(guardrail_violations(cost_plus, situation, rails)),
            }
        )
    return pd.DataFrame(rows)


def known_baseline_elasticities(data: Path, skus: list[str]) -> pd.DataFrame:
    """Per SKU, the elasticity an estimator gets that knows the true baseline demand.

    Poisson maximum likelihood of the day's count on log(price / reference) with log(true
    baseline) as offset, over every region and in-stock day of the SKU: no trend, season,
    holiday or event to separate, only the noise the simulator draws (day and province
    shocks, and bulk buyers). Two counts: ``units`` (the truth's realized demand before
    stock-outs) and ``orders`` (the export's demand orders, in-stock days), since bulk buyers
    make units much noisier than the number of orders. Their errors are a reference for what
    the orders can tell, not a proof that nothing can do better.
    """
    cells = duckdb.execute(
        f"""
        WITH o AS (SELECT sku_id, region_code, created_at::DATE AS ds, count(*) AS orders
                   FROM {export_files(data, "orders")}
                   WHERE status IN ('paid', 'delivered', 'failed', 'refunded')
                   GROUP BY ALL)
        SELECT t.sku_id, t.demand_units AS units, coalesce(o.orders, 0) AS orders,
               t.is_stockout, t.baseline_units, t.unit_price / t.reference_price AS ratio
        FROM read_parquet(?) t LEFT JOIN o USING (sku_id, region_code, ds)
        WHERE NOT t.is_future AND t.baseline_units > 0""",
        [str(data / "_truth" / "expected_demand.parquet")],
    ).df()
    estimates = {}
    for sku, rows in cells[cells["sku_id"].isin(skus)].groupby("sku_id"):
        x = np.log(rows["ratio"].to_numpy(dtype=float))
        if np.std(x) < 1e-6:
            continue
        offset = np.log(rows["baseline_units"].to_numpy(dtype=float))
        in_stock = ~rows["is_stockout"].to_numpy(dtype=bool)
        estimates[sku] = {
            "known_baseline_units": _poisson_slope(rows["units"].to_numpy(float), x, offset),
            "known_baseline_orders": _poisson_slope(
                rows["orders"].to_numpy(float)[in_stock], x[in_stock], offset[in_stock]
            ),
        }
    return pd.DataFrame.from_dict(estimates, orient="index")


def _poisson_slope(y: np.ndarray, x: np.ndarray, offset: np.ndarray) -> float:
    """Slope of a Poisson log-linear fit of y on x with an offset, by Newton steps."""
    design = np.column_stack([np.ones_like(x), x])
    coef = np.zeros(2)
    for _ in range(50):
        mu = np.exp(offset + design @ coef)
        step = np.linalg.solve(design.T @ (mu[:, None] * design), design.T @ (y - mu))
        coef += step
        if np.abs(step).max() < 1e-8:
            break
    return float(coef[1])


def _verdict(ok: bool) -> str:
    return "OK" if ok else "NOT MET"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scale", default="medium", choices=["small", "medium", "large"])
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--data", type=Path, default=None)
    parser.add_argument("--warehouse", type=Path, default=None, help="read the real marts")
    parser.add_argument("--horizon", type=int, default=28)
    args = parser.parse_args()
    root = Path(__file__).resolve().parent / "out" / "pricing"
    data = ensure_export(args.data or root / f"export-{args.scale}", args.scale, args.seed)
    settings = pd.read_json(data / "_truth" / "settings.json", typ="series")
    as_of = dt.date.fromisoformat(str(settings["future_start_date"]))
    config = load_pricing_config()

    started = time.perf_counter()
    marts = marts_from_warehouse(args.warehouse) if args.warehouse else marts_from_export(data)
    source = f"warehouse {args.warehouse}" if args.warehouse else "export (DuckDB, contract rules)"
    load_seconds = time.perf_counter() - started
    daily = marts["daily"][marts["daily"]["region_code"] != "UNKNOWN"]
    active = set(marts["skus"].loc[marts["skus"]["active"].astype(bool), "sku_id"])
    daily = daily[daily["sku_id"].isin(active)]

    started = time.perf_counter()
    estimates = estimate_elasticities(
        daily, marts["skus"], as_of, config.elasticity, marts["events"], marts["stockouts"]
    )
    estimate_seconds = time.perf_counter() - started
    true_e = pd.read_csv(data / "_truth" / "elasticities.csv")
    regional = estimates[estimates["region_code"] != "ALL"].merge(
        true_e[["sku_id", "region_code", "elasticity"]].rename(columns={"elasticity": "truth"}),
        on=["sku_id", "region_code"],
    )
    regional["error"] = (regional["elasticity"] - regional["truth"]).abs()
    regional["raw_error"] = (regional["raw_elasticity"] - regional["truth"]).abs()
    regional["covered"] = regional["truth"].between(
        regional["elasticity_low"], regional["elasticity_high"]
    )
    varied = regional[regional["price_variation"] == "own"]
    per_sku = estimates[estimates["region_code"] == "ALL"].merge(
        true_e.groupby("sku_id")["sku_elasticity"].first().rename("truth").reset_index(),
        on="sku_id",
    )
    per_sku["error"] = (per_sku["elasticity"] - per_sku["truth"]).abs()
    per_sku["covered"] = per_sku["truth"].between(
        per_sku["elasticity_low"], per_sku["elasticity_high"]
    )
    per_sku_varied = per_sku[per_sku["price_variation"] == "own"]
    heavy = per_sku_varied[per_sku_varied["history_units"] >= HEAVY_SELLER_UNITS]
    floor = per_sku_varied.join(
        known_baseline_elasticities(data, list(per_sku_varied["sku_id"])), on="sku_id"
    ).dropna(subset=["known_baseline_units", "known_baseline_orders"])
    floor_units = (floor["known_baseline_units"] - floor["truth"]).abs()
    floor_error = (floor["known_baseline_orders"] - floor["truth"]).abs()

    started = time.perf_counter()
    latest_inventory = (
        marts["inventory_days"][marts["inventory_days"]["inventory_date"] < pd.Timestamp(as_of)]
        .sort_values("inventory_date")
        .groupby("sku_id")
        .tail(1)
    )
    items = pricing_items(daily, marts["skus"], as_of, args.horizon, inventory=latest_inventory)
    recommendations = recommend_prices(items, estimates, config, as_of, args.horizon)
    recommend_seconds = time.perf_counter() - started
    priced = items.dropna(subset=["current_price", "unit_cost"])
    markup = float(np.median(priced["current_price"] / priced["unit_cost"] - 1))
    scores = score_prices(recommendations, true_horizon(data, as_of, args.horizon), config, markup)
    weeks = args.horizon / 7

    def capture(column: str, frame: pd.DataFrame = scores) -> float:
        gain = (frame["oracle"] - frame["current"]).sum()
        return float((frame[column] - frame["current"]).sum() / gain) if gain > 0 else float("nan")

    def uplift(column: str) -> float:
        return float((scores[column] - scores["current"]).sum() / weeks)

    recommended = scores[scores["action"] != "test"]
    print(f"pricing bench: {args.scale} seed {args.seed}, as of {as_of}, horizon {args.horizon} d")
    print(f"data: {source}; {len(daily):,} sku x region x day rows; load {load_seconds:.1f} s")
    print(
        f"elasticity: {estimate_seconds:.1f} s for {estimates['sku_id'].nunique()} SKUs, "
        f"{len(regional)} SKU x regions ({len(varied)} with own price variation, "
        f"{int((regional['price_variation'] == 'pooled').sum())} pooled, "
        f"{int((regional['price_variation'] == 'none').sum())} none)"
    )
    level = f"{config.elasticity.interval_level:.0%}"
    print(
        f"  per SKU with price variation ({len(per_sku_varied)}): median abs error "
        f"{per_sku_varied['error'].median():.3f} (target <= {TARGETS['elasticity_mae']}); "
        f"{level} interval coverage {per_sku_varied['covered'].mean():.1%}; median signed "
        f"error {(per_sku_varied['elasticity'] - per_sku_varied['truth']).median():+.3f}"
    )
    print(
        f"  reference: an estimator knowing the true baseline demand gets median abs error "
        f"{floor_error.median():.3f} from order counts, {floor_units.median():.3f} from units, "
        f"on the same SKUs ({len(floor)}); CardPulse on them {floor['error'].median():.3f}"
    )
    print(
        f"  heavy sellers (>= {HEAVY_SELLER_UNITS:,} units, {len(heavy)} SKUs): median abs "
        f"error {heavy['error'].median():.3f}"
    )
    print(
        f"  per SKU x region with own variation: median abs error {varied['error'].median():.3f}"
        f" (unpooled {varied['raw_error'].median():.3f}); all SKU x regions "
        f"{regional['error'].median():.3f}; {level} coverage {regional['covered'].mean():.1%}"
    )
    actions = recommendations["action"].value_counts().to_dict()
    print(f"recommendations: {len(recommendations)} rows {actions}; {recommend_seconds:.1f} s")
    print(f"{'rule':<22}{'profit capture':>16}{'violations':>12}{'uplift ¥/week':>16}")
    for label, column in (
        ("CardPulse", "cardpulse"),
        (f"cost-plus {markup:.1%}", "cost_plus"),
        ("oracle (same rails)", "oracle"),
    ):
        print(
            f"{label:<22}{capture(column):>16.3f}{int(scores[column + '_violations'].sum()):>12}"
            f"{uplift(column):>16,.0f}"
        )
    print(
        f"CardPulse on rows it prices ({len(recommended)}): capture "
        f"{capture('cardpulse', recommended):.3f}; current true profit "
        f"¥{scores['current'].sum() / weeks:,.0f}/week"
    )
    mae = float(per_sku_varied["error"].median())
    print(
        f"target elasticity median abs error <= {TARGETS['elasticity_mae']}: {mae:.3f} "
        f"{_verdict(mae <= TARGETS['elasticity_mae'])} "
        f"(known-baseline reference {floor_error.median():.3f})"
    )
    print(
        f"target profit capture >= {TARGETS['profit_capture']}: {capture('cardpulse'):.3f} "
        f"{_verdict(capture('cardpulse') >= TARGETS['profit_capture'])}"
    )
    violations = int(scores["cardpulse_violations"].sum())
    print(
        f"target guardrail violations = {TARGETS['violations']}: {violations} "
        f"{_verdict(violations <= TARGETS['violations'])}"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
