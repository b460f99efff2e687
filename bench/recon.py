"""Reconciliation against the simulator's planted faults (issue #19).

    python bench/recon.py --export DIR --home HOME [--clean-home HOME2]

HOME is a CardPulse home where ``cardpulse ingest DIR`` (an export made with
``cardpulse generate --faults``) and ``cardpulse build`` have run; CLEAN_HOME the same for the
export made without ``--faults`` (same scale and seed). Prints, per kind: planted, found,
amount exact to the fen; the findings no planted fault explains; the clean export's findings;
and how long the recon marts take in dbt (``dbt run --select path:models/marts/recon``).
"""

import argparse
import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

import duckdb
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
TABLES = ("recon_orders_payments", "recon_card_keys", "recon_supplier_balances")
# Kinds reported per batch (the batch draw-down), not per order.
BATCH_KINDS = {"batch_overdrawn", "batch_cost_mismatch", "batch_never_drawn"}
# Kinds only a planted fault of that kind explains (the simulator also plants loop keys sold
# to two orders, which must not be reported).
STRICT_KINDS = {"key_delivered_to_two_orders"}


def findings(home: Path) -> dict[str, pd.DataFrame]:
    with duckdb.connect(str(home / "warehouse.duckdb"), read_only=True) as conn:
        return {t: conn.execute(f"SELECT * FROM analytics.{t}").df() for t in TABLES}


def match(truth: pd.DataFrame, found: dict[str, pd.DataFrame]) -> pd.DataFrame:
    """Each planted fault with the finding that names it (same kind and order, batch, or
    supplier and day) and whether the amounts agree to the fen."""
    rows = []
    for fault in truth.itertuples():
        table = found[fault.recon_table]
        same = table[(table["kind"] == fault.kind) & (table["status"] == "open")]
        if fault.kind == "supplier_balance_gap":
            same = same[
                (same["supplier_id"] == fault.supplier_id)
                & (pd.to_datetime(same["balance_date"]).dt.date.astype(str) == fault.day)
            ]
        elif fault.kind in BATCH_KINDS:
            same = same[same["batch_id"] == fault.batch_id]
        else:
            same = same[same["order_id"] == fault.order_id]
        amount = None if same.empty else round(float(same["amount"].iloc[0]) * 100)
        rows.append(
            {
                "kind": fault.kind,
                "found": not same.empty,
                "exact": amount == round(float(fault.amount) * 100),
            }
        )
    return pd.DataFrame(rows)


def unexplained(truth: pd.DataFrame, found: dict[str, pd.DataFrame]) -> int:
    """Findings about neither a planted fault's order or batch nor a planted order (OF...);
    for ``STRICT_KINDS``, only a planted fault of that kind on that order explains it."""
    planted_orders = set(truth["order_id"].dropna())
    strict = {(k, o) for k, o in zip(truth["kind"], truth["order_id"], strict=True)}
    planted_batches = set(truth.loc[truth["kind"].isin(BATCH_KINDS), "batch_id"])
    gaps = {(s, str(d)) for s, d in zip(truth["supplier_id"], truth["day"], strict=True)}
    n = 0
    for table in found.values():
        for row in table[table["status"] == "open"].to_dict("records"):
            order = row.get("order_id")
            if row["kind"] in STRICT_KINDS:
                n += (row["kind"], order) not in strict
                continue
            if order is not None and (order in planted_orders or str(order).startswith("OF")):
                continue
            if row["kind"] in BATCH_KINDS and row.get("batch_id") in planted_batches:
                continue
            day = row.get("balance_date")
            if (row.get("supplier_id"), str(pd.Timestamp(day).date()) if day else None) in gaps:
                continue
            n += 1
    return n


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def dbt_seconds(home: Path) -> tuple[float, float, float]:
    """(wall seconds of ``dbt run`` of the recon marts, the CPU seconds of that dbt process,
    their summed model execution time)."""
    env = {**os.environ, "CARDPULSE_HOME": str(home)}
    dbt = ROOT / ".venv" / "bin" / "dbt"
    target = home / "bench_dbt_target"
    start, cpu_start = time.perf_counter(), _children_cpu()
    subprocess.run(
        [
            str(dbt),
            "run",
            "--quiet",
            "--select",
            "path:models/marts/recon",
            "--project-dir",
            str(ROOT / "dbt_project"),
            "--profiles-dir",
            str(ROOT / "dbt_project"),
            "--target-path",
            str(target),
            "--log-path",
            str(home / "bench_dbt_logs"),
        ],
        env=env,
        check=True,
    )
    wall, cpu = time.perf_counter() - start, _children_cpu() - cpu_start
    results = json.loads((target / "run_results.json").read_text())["results"]
    return wall, cpu, sum(r["execution_time"] for r in results)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--export", type=Path, required=True)
    parser.add_argument("--home", type=Path, required=True)
    parser.add_argument("--clean-home", type=Path)
    args = parser.parse_args()
    # dbt resolves a relative target path against the project, not here.
    args.home = args.home.resolve()
    truth = pd.read_csv(args.export / "_truth" / "faults.csv", dtype=str)
    found = findings(args.home)
    matched = match(truth, found)
    per_kind = matched.groupby("kind").agg(
        planted=("found", "size"), found=("found", "sum"), exact=("exact", "sum")
    )
    print(per_kind.to_string())
    print(
        f"planted {len(matched)}, found {int(matched['found'].sum())}, "
        f"amount exact to the fen {int(matched['exact'].sum())}, "
        f"findings no planted fault explains {unexplained(truth, found)}"
    )
    if args.clean_home:
        clean = findings(args.clean_home)
        print(f"clean export: {sum(len(f) for f in clean.values())} findings")
    build_results = args.home / "dbt_target" / "run_results.json"
    if build_results.exists():  # what the last `cardpulse build` spent on the recon marts
        results = json.loads(build_results.read_text())["results"]
        spent = sum(r["execution_time"] for r in results if "recon" in r["unique_id"])
        print(f"in the last build's dbt step: recon marts and their tests {spent:.1f} s")
    wall, cpu, models = dbt_seconds(args.home)
    print(
        f"recon marts in dbt: {models:.1f} s of model time ({wall:.1f} s wall with dbt's "
        f"start-up, {cpu:.1f} s CPU)"
    )
    ok = bool(matched["found"].all() and matched["exact"].all())
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
