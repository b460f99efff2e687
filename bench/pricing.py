"""Pricing bench: elasticity error and profit capture against the simulator's ground truth.

Usage: .venv/bin/python bench/pricing.py [--scale medium] [--seed 0] [--data DIR]
       [--warehouse FILE] [--horizon 28]

1. Generate the simulated export once (``pipelines.simulator.generate``, Parquet) into
   ``--data`` (default ``bench/out/pricing/export-<scale>``), or use the one there, and build
   CardPulse's warehouse from it once (real ingest + dbt, ``ensure_warehouse``), or read the
   one named by ``--warehouse``.
2. Run the pricing stage's own computation on its marts
   (``pipelines.assets.pricing.elasticities_from_marts`` / ``recommendations_from_marts``:
   the same reads, filters and calls as the assets). The bench's warehouse has no forecast or
   restock plan, so the items take their horizon units from trailing sales, as the stage
   does when those stages have not run.
3. Elasticities are estimated as of the day after the export ends and scored against
   ``_truth/elasticities.csv``: median absolute error over SKU x regions
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

from export_data import ensure_export, ensure_warehouse  # noqa: E402

from cardpulse.settings import DEFAULT_FORECAST  # noqa: E402
from forecasting.pricing import (  # noqa: E402
    PriceSituation,
    guardrail_violations,
    load_pricing_config,
)
from forecasting.pricing.guardrails import allowed_prices  # noqa: E402
from pipelines.assets.pricing import (  # noqa: E402
    UNPRICED_REGIONS,
    elasticities_from_marts,
    read_daily_sales,
    read_skus,
    recommendations_from_marts,
)

HEAVY_SELLER_UNITS = 50_000
TARGETS = {"elasticity_mae": 0.15, "profit_capture": 0.9, "violations": 0}


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


def known_baseline_elasticities(data: Path, warehouse: Path, skus: list[str]) -> pd.DataFrame:
    """Per SKU, the elasticity an estimator gets that knows the true baseline demand.

    Poisson maximum likelihood of the day's count on log(price / reference) with log(true
    baseline) as offset, over every region and in-stock day of the SKU: no trend, season,
    holiday or event to separate, only the noise the simulator draws (day and province
    shocks, and bulk buyers). Two counts: ``units`` (the truth's realized demand before
    stock-outs) and ``orders`` (the warehouse's demand orders, in-stock days), since bulk buyers
    make units much noisier than the number of orders. Their errors are a reference for what
    the orders can tell, not a proof that nothing can do better.
    """
    conn = duckdb.connect()
    conn.execute(f"ATTACH '{warehouse}' AS wh (READ_ONLY)")
    cells = conn.execute(
        """
        WITH o AS (SELECT sku_id, region_code, order_date AS ds, orders
                   FROM wh.analytics.fct_daily_sku_sales)
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
    parser.add_argument(
        "--warehouse", type=Path, default=None, help="a built warehouse (default: built once)"
    )
    parser.add_argument("--horizon", type=int, default=DEFAULT_FORECAST.horizon_days)
    args = parser.parse_args()
    root = Path(__file__).resolve().parent / "out" / "pricing"
    data = ensure_export(args.data or root / f"export-{args.scale}", args.scale, args.seed)
    settings = pd.read_json(data / "_truth" / "settings.json", typ="series")
    as_of = dt.date.fromisoformat(str(settings["future_start_date"]))
    config = load_pricing_config()

    warehouse = args.warehouse or ensure_warehouse(data)
    source = f"warehouse {warehouse}"
    conn = duckdb.connect(str(warehouse), read_only=True)
    started = time.perf_counter()
    skus = read_skus(conn)
    daily = read_daily_sales(conn, as_of)
    load_seconds = time.perf_counter() - started
    active = set(skus.loc[skus["active"].astype(bool), "sku_id"])
    daily = daily[~daily["region_code"].isin(UNPRICED_REGIONS) & daily["sku_id"].isin(active)]

    started = time.perf_counter()
    estimates = elasticities_from_marts(conn, as_of, config)
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
        known_baseline_elasticities(data, warehouse, list(per_sku_varied["sku_id"])), on="sku_id"
    ).dropna(subset=["known_baseline_units", "known_baseline_orders"])
    floor_units = (floor["known_baseline_units"] - floor["truth"]).abs()
    floor_error = (floor["known_baseline_orders"] - floor["truth"]).abs()

    started = time.perf_counter()
    items, recommendations = recommendations_from_marts(
        conn, as_of, config, args.horizon, estimates
    )
    recommend_seconds = time.perf_counter() - started
    conn.close()
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
