"""Issue #18's measured targets on the simulator: profit waterfall and coupon incrementality.

    .venv/bin/python bench/coupons.py [--scale small|medium] [--seed N] [--out DIR]

1. Generates the export (reused when ``DIR/export`` already holds this scale and seed).
2. Ingests it into a fresh warehouse and runs ``dbt build`` (every model and its tests).
3. Profit: each waterfall step of ``fct_order_profit`` (GMV, discounts, payment fees, agent
   commission, cost, net profit) against ``_truth/profit.json``; target: every step within
   one yuan (it should be exact to the fen).
4. Coupons: ``forecasting.coupons.estimate_incrementality`` (against comparable days) for each
   coupon; target: the true incremental orders (``_truth/coupons.csv``) inside the estimate's
   90% interval for >= 80% of coupons.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import time
from decimal import Decimal
from pathlib import Path

from export_data import ensure_export

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

DBT = [str(Path(sys.executable).with_name("dbt")), "--no-use-colors", "--quiet"]
DBT_DIRS = ["--project-dir", str(ROOT / "dbt_project"), "--profiles-dir", str(ROOT / "dbt_project")]
STEPS = ("gmv", "discount_amount", "payment_fee", "agent_commission", "cost_amount", "net_profit")


def _export(out: Path, scale: str, seed: int) -> Path:
    return ensure_export(out / "export", scale, seed, "csv")


def _build(export: Path, work: Path) -> Path:
    import os

    from pipelines.ingest.load import ingest_paths

    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    warehouse = work / "warehouse.duckdb"
    start = time.perf_counter()
    results = ingest_paths(warehouse, [export])
    failed = [r.summary_line() for r in results if r.error]
    if failed:
        raise SystemExit("ingest failed: " + "; ".join(failed))
    print(f"ingest: {len(results)} files in {time.perf_counter() - start:.1f} s")
    env = dict(os.environ, CARDPULSE_WAREHOUSE=str(warehouse), CARDPULSE_HOME=str(work))
    start = time.perf_counter()
    subprocess.run(
        [*DBT, "build", *DBT_DIRS,
         "--target-path", str(work / "dbt_target"), "--log-path", str(work / "dbt_logs")],
        cwd=ROOT, env=env, check=True,
    )  # fmt: skip
    print(f"dbt build (models and tests): {time.perf_counter() - start:.1f} s")
    return warehouse


def profit_check(warehouse: Path, truth_dir: Path) -> bool:
    import duckdb

    truth = json.loads((truth_dir / "profit.json").read_text())
    with duckdb.connect(str(warehouse), read_only=True) as conn:
        sums = conn.execute(
            f"SELECT count(*), {', '.join(f'sum({s})' for s in STEPS)} "
            "FROM analytics.fct_order_profit"
        ).fetchone()
    orders, measured = sums[0], dict(zip(STEPS, sums[1:], strict=True))
    print(f"profit waterfall: {orders} demand orders (truth {truth['demand_orders']})")
    ok = orders == truth["demand_orders"]
    for step in STEPS:
        diff = Decimal(measured[step]) - Decimal(truth[step])
        ok &= abs(diff) <= 1
        print(f"  {step:17s} warehouse {measured[step]:>14} truth {truth[step]:>14} diff {diff}")
    identity = (
        measured["gmv"] - measured["discount_amount"] - measured["payment_fee"]
        - measured["agent_commission"] - measured["cost_amount"]
    )  # fmt: skip
    print(f"  GMV - discounts - fees - commission - cost = {identity} (net profit "
          f"{measured['net_profit']})")  # fmt: skip
    ok &= identity == measured["net_profit"]
    print(f"profit waterfall adds up to the yuan vs the truth: {'MET' if ok else 'NOT MET'}")
    return ok


def coupon_check(warehouse: Path, truth_dir: Path) -> bool:
    import duckdb
    import pandas as pd

    from forecasting.coupons import coupon_windows, estimate_incrementality

    with duckdb.connect(str(warehouse), read_only=True) as conn:
        merchant_daily = conn.execute(
            """SELECT merchant_id, order_date, count(*) AS orders FROM analytics.fct_order_profit
               GROUP BY ALL"""
        ).df()
        coupon_daily = conn.execute("SELECT * FROM analytics.fct_coupon_daily").df()
    estimates = estimate_incrementality(merchant_daily, coupon_windows(coupon_daily))
    truth = pd.read_csv(truth_dir / "coupons.csv")
    joined = truth.merge(estimates, on=["coupon_code", "merchant_id"], how="left")
    joined["covered"] = (joined["incremental_orders_x"] >= joined["incremental_low"]) & (
        joined["incremental_orders_x"] <= joined["incremental_high"]
    )
    coupon_orders = coupon_daily.groupby("coupon_code")["orders"].sum()
    print(f"coupons: {len(truth)} (90% intervals against comparable days)")
    for row in joined.itertuples():
        print(
            f"  {row.coupon_code} {row.merchant_id} {row.start_date_x}: coupon orders "
            f"{coupon_orders.get(row.coupon_code, 0):5d}, true incremental "
            f"{row.incremental_orders_x:5d}, estimate {row.incremental_orders_y:8.1f} "
            f"[{row.incremental_low:8.1f}, {row.incremental_high:8.1f}] "
            f"{'in' if row.covered else 'OUT'}"
        )
    share = joined["covered"].mean()
    ok = share >= 0.8
    print(
        f"coupon incrementality within interval of the true uplift: {joined['covered'].sum()}"
        f"/{len(joined)} = {share:.0%} (target >= 80%): {'MET' if ok else 'NOT MET'}"
    )
    return ok


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--scale", default="small", choices=["small", "medium", "large"])
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "out" / "coupons")
    args = parser.parse_args()
    start = time.perf_counter()
    export = _export(args.out / args.scale, args.scale, args.seed)
    print(f"export: {export} ({time.perf_counter() - start:.1f} s)")
    warehouse = _build(export, args.out / args.scale / "work")
    profit_ok = profit_check(warehouse, export / "_truth")
    coupons_ok = coupon_check(warehouse, export / "_truth")
    sys.exit(0 if profit_ok and coupons_ok else 1)


if __name__ == "__main__":
    main()
