"""Risk signals over the marts: each rule a query that names its subject and its evidence.

Rules (thresholds from :class:`RiskSection`):
- ``buyer_velocity``: one buyer key with many paid orders within a short window (top-up theft);
- ``ip_velocity``: one IP key behind many distinct buyer keys within a short window;
- ``card_testing``: a run of failed payment attempts by one buyer, then a success;
- ``buyer_refund_abuse`` / ``buyer_failure_abuse``: a buyer whose refund (failure) rate is far
  above its peers': robust z = (rate - peers' median) / scale, scale = max(1.4826 x MAD,
  binomial standard error at the peers' pooled rate), with minimum orders and events;
- ``merchant_refund_abuse`` / ``merchant_failure_abuse``: the same for merchants over a
  shorter window;
- ``unpaid_holding_stock``: one buyer with many never-paid card-key orders within a window.

``score`` is the rule's measure over its threshold (z over the z threshold for rates), so
scores compare across rules; > 1 means the rule fired. Each signal's evidence is written in
English (``evidence``) and in Chinese (``evidence_zh``): the risk page shows the viewer's.
"""

from __future__ import annotations

import datetime as dt

import pandas as pd

from cardpulse.settings import RiskSection

# risk_signals' columns and their SQL types (the state table adds first_seen, status, is_new,
# as_of: ``signal_state.STATE_SCHEMA``).
SIGNAL_SCHEMA = {
    "signal_id": "VARCHAR", "kind": "VARCHAR", "subject_type": "VARCHAR", "subject": "VARCHAR",
    "window_start": "TIMESTAMP", "window_end": "TIMESTAMP", "orders": "BIGINT",
    "amount": "DECIMAL(18, 2)", "evidence": "VARCHAR", "evidence_zh": "VARCHAR",
    "order_ids": "VARCHAR", "score": "DOUBLE",
}  # fmt: skip
SIGNAL_COLUMNS = list(SIGNAL_SCHEMA)

_VELOCITY = """
WITH paid AS (
    SELECT order_id, buyer_key, buyer_ip_key, created_at, gross_revenue
    FROM analytics.fct_orders
    WHERE is_demand AND created_at >= $since AND {subject} IS NOT NULL
),
windowed AS (
    SELECT *, {measure} OVER (PARTITION BY {subject} ORDER BY created_at
        RANGE BETWEEN INTERVAL ($minutes) MINUTE PRECEDING AND CURRENT ROW) AS n
    FROM paid
),
peaks AS (
    SELECT {subject} AS subject, arg_max(created_at, n) AS window_end, max(n) AS n
    FROM windowed GROUP BY 1 HAVING max(n) >= $threshold
)
SELECT peaks.subject, peaks.window_end - INTERVAL ($minutes) MINUTE AS window_start,
    peaks.window_end, peaks.n AS measure, count(*) AS orders,
    CAST(sum(paid.gross_revenue) AS DECIMAL(18, 2)) AS amount,
    count(DISTINCT paid.buyer_key) AS buyers,
    string_agg(paid.order_id, ',' ORDER BY paid.created_at) AS order_ids
FROM peaks JOIN paid ON paid.{subject} = peaks.subject
    AND paid.created_at BETWEEN peaks.window_end - INTERVAL ($minutes) MINUTE AND peaks.window_end
GROUP BY ALL
"""

_CARD_TESTING = """
WITH attempts AS (
    SELECT p.payment_id, p.order_id, p.created_at, p.is_success, o.buyer_key
    FROM analytics.fct_payments p JOIN analytics.fct_orders o USING (order_id)
    WHERE p.created_at >= $since AND o.buyer_key IS NOT NULL
    {one_row_per_attempt}
),
windowed AS (
    SELECT *, count(*) FILTER (WHERE NOT is_success) OVER (PARTITION BY buyer_key
        ORDER BY created_at RANGE BETWEEN INTERVAL ($minutes) MINUTE PRECEDING AND CURRENT ROW)
        AS failures_before
    FROM attempts
)
SELECT buyer_key AS subject, arg_max(created_at, failures_before) AS window_end,
    max(failures_before) AS measure,
    arg_max(order_id, failures_before) AS order_ids
FROM windowed WHERE is_success GROUP BY 1 HAVING max(failures_before) >= $threshold
"""

_RATES = """
WITH orders AS (
    SELECT {subject} AS subject, count(*) AS orders,
        count(*) FILTER (WHERE {event}) AS events,
        CAST(sum(gross_revenue) FILTER (WHERE {event}) AS DECIMAL(18, 2)) AS amount,
        min(created_at) AS window_start, max(created_at) AS window_end,
        string_agg(order_id, ',' ORDER BY created_at) FILTER (WHERE {event}) AS order_ids
    FROM analytics.fct_orders
    WHERE is_demand AND created_at >= $since AND {subject} IS NOT NULL
    GROUP BY 1 HAVING count(*) >= $min_orders
),
peer_rates AS (
    -- Peers over the whole look-back, so a recent run at a few subjects cannot move the median.
    SELECT count(*) FILTER (WHERE {event}) AS events, count(*) AS orders,
        count(*) FILTER (WHERE {event}) / count(*) AS rate
    FROM analytics.fct_orders
    WHERE is_demand AND created_at >= $peer_since AND {subject} IS NOT NULL
    GROUP BY {subject} HAVING count(*) >= $min_orders
),
peers AS (
    SELECT median(rate) AS median_rate,
        median(abs(rate - (SELECT median(rate) FROM peer_rates))) AS mad,
        sum(events) / sum(orders) AS pooled
    FROM peer_rates
)
SELECT orders.*, events / orders AS rate, peers.median_rate,
    (events / orders - peers.median_rate)
        / greatest(1.4826 * peers.mad, sqrt(greatest(peers.pooled, 1e-4)
            * (1 - greatest(peers.pooled, 1e-4)) / orders)) AS z
FROM orders, peers
WHERE events >= $min_events
"""

_UNPAID = """
WITH unpaid AS (
    SELECT o.order_id, o.buyer_key, o.created_at, o.quantity,
        CAST(o.quantity * o.unit_price AS DECIMAL(18, 2)) AS value
    FROM analytics.fct_orders o JOIN analytics.dim_skus s USING (sku_id)
    WHERE o.status IN ('cancelled', 'pending_payment') AND s.delivery_type = 'card_key'
      AND o.created_at >= $since AND o.buyer_key IS NOT NULL
),
windowed AS (
    SELECT *, count(*) OVER (PARTITION BY buyer_key ORDER BY created_at
        RANGE BETWEEN INTERVAL ($minutes) MINUTE PRECEDING AND CURRENT ROW) AS n
    FROM unpaid
),
peaks AS (
    SELECT buyer_key AS subject, arg_max(created_at, n) AS window_end, max(n) AS n
    FROM windowed GROUP BY 1 HAVING max(n) >= $threshold
)
SELECT peaks.subject, peaks.window_end - INTERVAL ($minutes) MINUTE AS window_start,
    peaks.window_end, peaks.n AS measure, count(*) AS orders, sum(unpaid.quantity) AS held_keys,
    CAST(sum(unpaid.value) AS DECIMAL(18, 2)) AS amount,
    string_agg(unpaid.order_id, ',' ORDER BY unpaid.created_at) AS order_ids
FROM peaks JOIN unpaid ON unpaid.buyer_key = peaks.subject
    AND unpaid.created_at BETWEEN peaks.window_end - INTERVAL ($minutes) MINUTE AND peaks.window_end
GROUP BY ALL
"""


def _frame(conn, sql: str, params: dict) -> pd.DataFrame:
    used = {k: v for k, v in params.items() if f"${k}" in sql}
    return conn.execute(sql, used).df()


def _signals(
    frame: pd.DataFrame, kind: str, subject_type: str, score, evidence, evidence_zh
) -> pd.DataFrame:
    if frame.empty:
        return pd.DataFrame(columns=SIGNAL_COLUMNS)
    out = pd.DataFrame(
        {
            "kind": kind,
            "subject_type": subject_type,
            "subject": frame["subject"],
            "window_start": frame["window_start"],
            "window_end": frame["window_end"],
            "orders": frame["orders"].astype("int64"),
            "amount": frame["amount"].astype(float) if "amount" in frame else None,
            "evidence": frame.apply(evidence, axis=1),
            "evidence_zh": frame.apply(evidence_zh, axis=1),
            "order_ids": frame["order_ids"].astype(str).str.slice(0, 2000),
            "score": score(frame).astype(float).round(3),
        }
    )
    out["signal_id"] = kind + ":" + out["subject"].astype(str)
    return out[SIGNAL_COLUMNS]


def _one_row_per_attempt(conn) -> str:
    """fct_payments splits an attempt for a multi-item order over the order's item rows
    (``attempt_id``): one failed attempt is one failure, whatever the number of items."""
    found = conn.execute(
        """SELECT count(*) FROM information_schema.columns WHERE table_schema = 'analytics'
           AND table_name = 'fct_payments' AND column_name = 'attempt_id'"""
    ).fetchone()[0]
    if not found:
        return ""
    return "QUALIFY row_number() OVER (PARTITION BY p.attempt_id ORDER BY p.order_id) = 1"


def find_signals(conn, settings: RiskSection, as_of: dt.date) -> pd.DataFrame:
    """1. Run each rule over the marts from its look-back start to ``as_of``; 2. one row per
    subject and rule with its window, evidence and score, highest score first."""
    since = dt.datetime.combine(as_of - dt.timedelta(days=settings.lookback_days), dt.time())
    merchant_since = dt.datetime.combine(
        as_of - dt.timedelta(days=settings.merchant_window_days), dt.time()
    )
    s = settings
    parts = []
    velocity = {"since": since, "minutes": s.velocity_window_minutes}
    buyers = _frame(
        conn,
        _VELOCITY.format(subject="buyer_key", measure="count(*)"),
        {**velocity, "threshold": s.velocity_orders},
    )
    parts.append(
        _signals(
            buyers,
            "buyer_velocity",
            "buyer_key",
            lambda f: f["measure"] / s.velocity_orders,
            lambda r: (
                f"{r.measure} paid orders within {s.velocity_window_minutes} min "
                f"(threshold {s.velocity_orders}); {r.amount} CNY"
            ),
            lambda r: (
                f"{s.velocity_window_minutes} 分钟内 {r.measure} 笔已付款订单"
                f"（阈值 {s.velocity_orders}）；{r.amount} 元"
            ),
        )
    )
    ips = _frame(
        conn,
        _VELOCITY.format(subject="buyer_ip_key", measure="count(DISTINCT buyer_key)"),
        {**velocity, "threshold": s.velocity_accounts},
    )
    parts.append(
        _signals(
            ips,
            "ip_velocity",
            "ip_key",
            lambda f: f["measure"] / s.velocity_accounts,
            lambda r: (
                f"{r.measure} buyer keys placed {r.orders} paid orders from one IP within "
                f"{s.velocity_window_minutes} min (threshold {s.velocity_accounts}); {r.amount} CNY"
            ),
            lambda r: (
                f"同一 IP 在 {s.velocity_window_minutes} 分钟内有 {r.measure} 个买家下了 "
                f"{r.orders} 笔已付款订单（阈值 {s.velocity_accounts}）；{r.amount} 元"
            ),
        )
    )
    testing = _frame(
        conn,
        _CARD_TESTING.format(one_row_per_attempt=_one_row_per_attempt(conn)),
        {
            "since": since,
            "minutes": s.card_testing_window_minutes,
            "threshold": s.card_testing_failures,
        },
    )
    if not testing.empty:
        testing["window_start"] = testing["window_end"] - pd.Timedelta(
            minutes=s.card_testing_window_minutes
        )
        testing["orders"] = 1
        testing["amount"] = None
    parts.append(
        _signals(
            testing,
            "card_testing",
            "buyer_key",
            lambda f: f["measure"] / s.card_testing_failures,
            lambda r: (
                f"{r.measure} failed payment attempts within {s.card_testing_window_minutes} "
                f"min, then a success (threshold {s.card_testing_failures})"
            ),
            lambda r: (
                f"{s.card_testing_window_minutes} 分钟内 {r.measure} 次支付失败后一次成功"
                f"（阈值 {s.card_testing_failures}）"
            ),
        )
    )
    for subject, subject_type, start, min_orders, min_events, z in (
        ("buyer_key", "buyer_key", since, s.min_orders, s.min_events, s.buyer_z),
        (
            "merchant_id",
            "merchant",
            merchant_since,
            s.merchant_min_orders,
            s.merchant_min_events,
            s.merchant_z,
        ),
    ):
        who = "buyer" if subject == "buyer_key" else "merchant"
        for event, word, word_zh in (
            ("is_refunded", "refund", "退款"),
            ("is_failed", "failure", "失败"),
        ):
            rates = _frame(
                conn,
                _RATES.format(subject=subject, event=event),
                {
                    "since": start,
                    "peer_since": since,
                    "min_orders": min_orders,
                    "min_events": min_events,
                },
            )
            rates = rates[rates["z"] >= z] if not rates.empty else rates
            parts.append(
                _signals(
                    rates,
                    f"{who}_{word}_abuse",
                    subject_type,
                    lambda f, z=z: f["z"] / z,
                    lambda r, word=word: (
                        f"{r.events} of {r.orders} paid orders with a {word} "
                        f"({r.rate:.0%}; peers' median {r.median_rate:.1%}); robust z {r.z:.1f}"
                    ),
                    lambda r, word_zh=word_zh: (
                        f"{r.orders} 笔已付款订单中 {r.events} 笔{word_zh}（{r.rate:.0%}；"
                        f"同类中位数 {r.median_rate:.1%}）；稳健 z 值 {r.z:.1f}"
                    ),
                )
            )
    unpaid = _frame(
        conn,
        _UNPAID,
        {"since": since, "minutes": s.unpaid_window_minutes, "threshold": s.unpaid_orders},
    )
    parts.append(
        _signals(
            unpaid,
            "unpaid_holding_stock",
            "buyer_key",
            lambda f: f["measure"] / s.unpaid_orders,
            lambda r: (
                f"{r.measure} never-paid card-key orders holding {r.held_keys:.0f} keys within "
                f"{s.unpaid_window_minutes} min (threshold {s.unpaid_orders}); {r.amount} CNY"
            ),
            lambda r: (
                f"{s.unpaid_window_minutes} 分钟内 {r.measure} 笔未付款卡密订单占用 "
                f"{r.held_keys:.0f} 张卡密（阈值 {s.unpaid_orders}）；{r.amount} 元"
            ),
        )
    )
    found = [p for p in parts if not p.empty]
    if not found:
        return pd.DataFrame(columns=SIGNAL_COLUMNS)
    return pd.concat(found, ignore_index=True).sort_values(
        ["score", "signal_id"], ascending=[False, True], ignore_index=True
    )
