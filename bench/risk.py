"""Risk signals against the simulator's planted fraud rings (issue #19).

    python bench/risk.py --export DIR --home HOME [--clean-home HOME2]

HOME: a CardPulse home where ``cardpulse ingest DIR`` (an export made with
``cardpulse generate --faults``) and ``cardpulse build`` have run; CLEAN_HOME the same for
the clean export. A ring is caught when a signal names its subject (the keyed buyer contact
or IP, or the merchant). Prints precision and recall of ``analytics.risk_signals`` (at the
configured alert budget) and of a simple per-rule baseline (fixed counts per day, no peers,
no minimum counts), false alarms per 10,000 clean orders, and the time the rules take.
"""

import argparse
import datetime as dt
import sys
import time
from pathlib import Path

import duckdb
import pandas as pd

from cardpulse.settings import Home, load_settings
from pipelines.ingest.secrets import installation_secret, keyed_hash
from pipelines.risk.signals import find_signals

# The baseline: one fixed count per rule over a calendar day, no windows, peers or minimums.
BASELINE = """
WITH o AS (SELECT * FROM analytics.fct_orders WHERE created_at >= $since)
SELECT DISTINCT subject FROM (
    SELECT buyer_key AS subject FROM o WHERE is_demand GROUP BY buyer_key, order_date
        HAVING count(*) >= 5
    UNION ALL
    SELECT buyer_ip_key FROM o WHERE is_demand GROUP BY buyer_ip_key, order_date
        HAVING count(DISTINCT buyer_key) >= 3
    UNION ALL
    SELECT o.buyer_key FROM analytics.fct_payments p JOIN o USING (order_id)
        WHERE NOT p.is_success GROUP BY o.buyer_key, o.order_date HAVING count(*) >= 3
    UNION ALL
    SELECT buyer_key FROM o WHERE is_refunded GROUP BY buyer_key HAVING count(*) >= 2
    UNION ALL
    SELECT merchant_id FROM o WHERE is_demand AND created_at >= $merchant_since
        GROUP BY merchant_id HAVING avg(CASE WHEN is_refunded THEN 1 ELSE 0 END) > 0.05
    UNION ALL
    SELECT buyer_key FROM o WHERE status IN ('cancelled', 'pending_payment')
        GROUP BY buyer_key, order_date HAVING count(*) >= 3
) WHERE subject IS NOT NULL
"""


def ring_subjects(export: Path, home: Path) -> pd.DataFrame:
    rings = pd.read_csv(export / "_truth" / "risk_rings.csv", dtype=str)
    secret = installation_secret(home)
    subjects = []
    for ring in rings.itertuples():
        if ring.kind == "merchant_refund_abuse":
            subjects.append(ring.merchant_id)
        elif ring.kind == "ip_velocity":
            subjects.append(keyed_hash(secret, ring.buyer_ip))
        else:
            subjects.append(keyed_hash(secret, ring.buyer_contact))
    return rings.assign(subject=subjects)


def score(flagged: set, rings: pd.DataFrame, orders: int) -> str:
    truth = set(rings["subject"])
    hits = flagged & truth
    precision = len(hits) / len(flagged) if flagged else 1.0
    recall = rings["subject"].isin(flagged).mean()
    false = len(flagged - truth)
    return (
        f"signals {len(flagged)}, precision {precision:.3f}, recall {recall:.3f}, "
        f"false alarms {false} ({false / orders * 10_000:.2f} per 10,000 orders)"
    )


def evaluate(home: Path, rings: pd.DataFrame | None) -> None:
    settings = load_settings(Home(home)).risk
    with duckdb.connect(str(home / "warehouse.duckdb"), read_only=True) as conn:
        as_of = conn.execute("SELECT max(order_date) + 1 FROM analytics.fct_orders").fetchone()[0]
        orders = conn.execute("SELECT count(*) FROM analytics.fct_orders").fetchone()[0]
        start = time.perf_counter()
        found = find_signals(conn, settings, as_of)
        seconds = time.perf_counter() - start
        built = conn.execute(
            "SELECT count(*) FROM information_schema.tables WHERE table_name = 'risk_signals'"
        ).fetchone()[0]
        if built:
            signals = conn.execute(
                "SELECT subject, kind FROM analytics.risk_signals WHERE status = 'open'"
            ).df()
        else:  # dbt built, the build's risk asset not run yet: the same rules and budget here
            print("(analytics.risk_signals not built: rules run here with the alert budget)")
            signals = found.head(settings.alert_budget)
        since = dt.datetime.combine(as_of - dt.timedelta(days=settings.lookback_days), dt.time())
        merchant_since = dt.datetime.combine(
            as_of - dt.timedelta(days=settings.merchant_window_days), dt.time()
        )
        baseline = conn.execute(BASELINE, {"since": since, "merchant_since": merchant_since}).df()
    if rings is None:
        print(
            f"clean export: {len(signals)} signals over {orders:,} orders "
            f"({len(signals) / orders * 10_000:.2f} per 10,000); baseline flags "
            f"{len(baseline)} ({len(baseline) / orders * 10_000:.2f} per 10,000)"
        )
        return
    clean_orders = orders - int(rings["orders"].astype(int).sum())
    print(
        f"{len(rings)} rings, {orders:,} orders; alert budget {settings.alert_budget}; "
        f"rules ran in {seconds:.1f} s ({len(found)} candidates)"
    )
    print("risk_signals: " + score(set(signals["subject"]), rings, clean_orders))
    print("baseline:     " + score(set(baseline["subject"]), rings, clean_orders))
    caught = rings.assign(caught=rings["subject"].isin(set(signals["subject"])))
    print(caught.groupby("kind")["caught"].agg(["size", "sum"]).to_string())


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--export", type=Path, required=True)
    parser.add_argument("--home", type=Path, required=True)
    parser.add_argument("--clean-home", type=Path)
    args = parser.parse_args()
    evaluate(args.home, ring_subjects(args.export, args.home))
    if args.clean_home:
        evaluate(args.clean_home, None)
    return 0


if __name__ == "__main__":
    sys.exit(main())
