"""The alert kinds CardPulse sends, as a registry: each kind says how to find its open firings.

A kind's ``collect(conn, config)`` returns every firing that is open now, each with a stable
``key`` (the same firing always gets the same key). The outbox sends each key once, so a rerun
of the same build sends nothing new, and a firing that re-arms (stock back above its reorder
point, a supplier topped up) comes back later with a new key. ``build_failed`` has no collector:
``cardpulse build`` raises it when a run fails.

Reconciliation discrepancies and risk signals (#19) are the kinds ``reconciliation`` and
``risk``: their open rows, with ``first_seen`` in the key.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass

from cardpulse.notify_settings import NotifyConfig


@dataclass(frozen=True)
class Alert:
    kind: str
    key: str  # one firing of this kind: the outbox's idempotency key (with the channel)
    subject: str  # what it is about: a SKU, a supplier, a file, a run
    title: str
    text: str  # markdown lines


@dataclass(frozen=True)
class AlertKind:
    name: str
    label_zh: str
    label_en: str
    collect: Callable[[object, NotifyConfig], list[Alert]] | None


REGISTRY: dict[str, AlertKind] = {}


def register(name: str, label_zh: str, label_en: str):
    """Add a kind whose open firings the decorated ``collect(conn, config)`` returns."""

    def decorate(collect):
        REGISTRY[name] = AlertKind(name, label_zh, label_en, collect)
        return collect

    return decorate


def label(kind: str, language: str) -> str:
    entry = REGISTRY.get(kind)
    if entry is None:
        return kind
    return entry.label_zh if language == "zh" else entry.label_en


def known_kinds() -> tuple[str, ...]:
    return tuple(REGISTRY)


def collect_all(conn, config: NotifyConfig) -> list[Alert]:
    """Every open firing of every routed kind that can be collected from the warehouse."""
    alerts: list[Alert] = []
    for kind in REGISTRY.values():
        if kind.collect is not None and config.channels_for(kind.name):
            alerts += kind.collect(conn, config)
    return alerts


def _table_exists(conn, schema: str, table: str) -> bool:
    return bool(
        conn.execute(
            "SELECT count(*) FROM information_schema.tables "
            "WHERE table_schema = ? AND table_name = ?",
            [schema, table],
        ).fetchone()[0]
    )


def _zh(config: NotifyConfig) -> bool:
    return config.language == "zh"


@register("low_stock", "低库存", "Low stock")
def low_stock(conn, config: NotifyConfig) -> list[Alert]:
    """Open low-stock firings (``analytics.low_stock_alerts``: fired once per crossing of the
    reorder point, re-armed after restock by the restock stage's own state machine)."""
    if not _table_exists(conn, "analytics", "low_stock_alerts"):
        return []
    rows = conn.execute(
        """SELECT sku_id, supplier_id, fired_on, on_hand, order_qty, order_by, stockout_date,
                  reason_zh, reason_en
           FROM analytics.low_stock_alerts WHERE is_open ORDER BY fired_on, sku_id"""
    ).fetchall()
    zh = _zh(config)
    alerts = []
    for sku, supplier, fired_on, on_hand, qty, order_by, stockout, reason_zh, reason_en in rows:
        if zh:
            title = f"低库存：{sku}"
            text = (
                f"- SKU：**{sku}**（供应商 {supplier}）\n"
                f"- 库存：{on_hand} 张，预计断货 {stockout}\n"
                f"- 建议：{order_by} 前订 {qty} 张\n- {reason_zh}"
            )
        else:
            title = f"Low stock: {sku}"
            text = (
                f"- SKU: **{sku}** (supplier {supplier})\n- on hand: {on_hand} keys, stock-out "
                f"{stockout}\n- order {qty} keys by {order_by}\n- {reason_en}"
            )
        alerts.append(Alert("low_stock", f"low_stock:{sku}:{fired_on}", sku, title, text))
    return alerts


FUNDING_STATE_TABLE = "ops.notify_funding_state"


@register("funding", "供应商余额不足", "Supplier balance runs out")
def funding(conn, config: NotifyConfig) -> list[Alert]:
    """Suppliers whose prepaid balance must be topped up within ``thresholds.funding_days``.

    Fires once when a supplier enters that state (the day is kept in
    ``ops.notify_funding_state``) and re-arms when it leaves it (topped up).
    """
    if not _table_exists(conn, "analytics", "funding_plan"):
        return []
    rows = conn.execute(
        """SELECT supplier_id, as_of, balance, daily_cost, days_of_cover, topup_amount, topup_by,
                  reason_zh, reason_en
           FROM analytics.funding_plan
           WHERE topup_amount > 0 AND topup_by IS NOT NULL
             AND topup_by <= as_of + to_days(CAST(? AS INTEGER))
           ORDER BY topup_by, supplier_id""",
        [config.thresholds.funding_days],
    ).fetchall()
    conn.execute("CREATE SCHEMA IF NOT EXISTS ops")
    conn.execute(
        f"CREATE TABLE IF NOT EXISTS {FUNDING_STATE_TABLE} "
        "(supplier_id VARCHAR PRIMARY KEY, since DATE NOT NULL)"
    )
    active = {row[0] for row in rows}
    since = dict(conn.execute(f"SELECT supplier_id, since FROM {FUNDING_STATE_TABLE}").fetchall())
    conn.execute("BEGIN TRANSACTION")
    for supplier in set(since) - active:  # topped up: re-armed
        conn.execute(f"DELETE FROM {FUNDING_STATE_TABLE} WHERE supplier_id = ?", [supplier])
    for supplier, as_of, *_ in rows:
        if supplier not in since:
            since[supplier] = as_of
            conn.execute(f"INSERT INTO {FUNDING_STATE_TABLE} VALUES (?, ?)", [supplier, as_of])
    conn.execute("COMMIT")
    zh = _zh(config)
    alerts = []
    for supplier, _as_of, balance, daily_cost, days, amount, topup_by, reason_zh, reason_en in rows:
        cover = f"{days:.1f}" if days is not None else "-"
        if zh:
            title = f"供应商余额不足：{supplier}"
            text = (
                f"- 供应商：**{supplier}**\n- 余额 ¥{balance:,.2f}，日均消耗 ¥{daily_cost:,.2f}，"
                f"可用 {cover} 天\n- 请在 {topup_by} 前充值 ¥{amount:,.0f}\n- {reason_zh}"
            )
        else:
            title = f"Supplier balance runs out: {supplier}"
            text = (
                f"- supplier: **{supplier}**\n- balance CNY {balance:,.2f}, CNY {daily_cost:,.2f} "
                f"a day, {cover} days\n- top up CNY {amount:,.0f} by {topup_by}\n- {reason_en}"
            )
        key = f"funding:{supplier}:{since[supplier]}"
        alerts.append(Alert("funding", key, supplier, title, text))
    return alerts


@register("quarantine", "数据隔离超阈值", "Data quarantined above threshold")
def quarantine(conn, config: NotifyConfig) -> list[Alert]:
    """Loaded files that quarantined more than ``thresholds.quarantine_pct`` % of their rows
    (one firing per file version)."""
    if not _table_exists(conn, "raw", "file_ledger"):
        return []
    rows = conn.execute(
        """SELECT _file_id, file_path, entity, rows_read, quarantined, loaded_at
           FROM raw.file_ledger
           WHERE rows_read > 0 AND quarantined * 100.0 / rows_read > ?
           ORDER BY loaded_at, file_path""",
        [config.thresholds.quarantine_pct],
    ).fetchall()
    zh = _zh(config)
    alerts = []
    for file_id, path, entity, rows_read, quarantined, loaded_at in rows:
        share = quarantined * 100.0 / rows_read
        name = path.rsplit("/", 1)[-1]
        if zh:
            title = f"数据隔离 {share:.1f}%：{name}"
            text = (
                f"- 文件：{path}（{entity}）\n- {rows_read:,} 行中隔离 {quarantined:,} 行"
                f"（{share:.1f}%，阈值 {config.thresholds.quarantine_pct}%）\n"
                f"- 载入于 {loaded_at:%Y-%m-%d %H:%M}；查看：`cardpulse quarantine list`"
            )
        else:
            title = f"{share:.1f}% quarantined: {name}"
            text = (
                f"- file: {path} ({entity})\n- {quarantined:,} of {rows_read:,} rows quarantined "
                f"({share:.1f}%, threshold {config.thresholds.quarantine_pct}%)\n"
                f"- loaded {loaded_at:%Y-%m-%d %H:%M}; see `cardpulse quarantine list`"
            )
        alerts.append(Alert("quarantine", f"quarantine:{file_id}", file_id, title, text))
    return alerts


# Raised by `cardpulse build` itself when its run fails: nothing to collect from the warehouse.
REGISTRY["build_failed"] = AlertKind("build_failed", "构建失败", "Build failed", None)


def build_failed_alert(run_id: str, failure_line: str, config: NotifyConfig) -> Alert:
    now = dt.datetime.now().strftime("%Y-%m-%d %H:%M")
    if _zh(config):
        title = "CardPulse 构建失败"
        text = f"- 运行 {run_id[:8]}（{now}）\n- {failure_line}\n- 详情：`cardpulse ui`"
    else:
        title = "CardPulse build FAILED"
        text = f"- run {run_id[:8]} ({now})\n- {failure_line}\n- details: `cardpulse ui`"
    return Alert("build_failed", f"build_failed:{run_id}", run_id, title, text)


RECON_TABLES = ("recon_orders_payments", "recon_card_keys", "recon_supplier_balances")


@register("reconciliation", "对账差异", "Reconciliation discrepancy")
def reconciliation(conn, config: NotifyConfig) -> list[Alert]:
    """Open discrepancies of the ``analytics.recon_*`` marts (issue #19). A discrepancy keeps
    its ``first_seen`` while it stays open and gets a new one when it comes back after being
    resolved: the key carries it, so each firing goes out once."""
    zh = _zh(config)
    alerts = []
    for table in RECON_TABLES:
        if not _table_exists(conn, "analytics", table):
            continue
        rows = conn.execute(
            f"""SELECT discrepancy_id, kind, amount, first_seen FROM analytics.{table}
                WHERE status = 'open' ORDER BY first_seen, discrepancy_id"""
        ).fetchall()
        for discrepancy, kind, amount, first_seen in rows:
            money = f"¥{amount:,.2f}" if amount is not None else "-"
            if zh:
                title = f"对账差异：{kind}"
                text = f"- 差异：**{discrepancy}**\n- 金额：{money}\n- 首次发现：{first_seen}"
            else:
                title = f"Reconciliation: {kind}"
                text = (
                    f"- discrepancy: **{discrepancy}**\n- amount: {money}\n"
                    f"- first seen: {first_seen}"
                )
            key = f"reconciliation:{discrepancy}:{first_seen}"
            alerts.append(Alert("reconciliation", key, str(discrepancy), title, text))
    return alerts


@register("risk", "风控信号", "Risk signal")
def risk(conn, config: NotifyConfig) -> list[Alert]:
    """Open signals of ``analytics.risk_signals`` (issue #19), with their evidence; fired once
    per ``first_seen`` like the discrepancies."""
    if not _table_exists(conn, "analytics", "risk_signals"):
        return []
    zh = _zh(config)
    # The Chinese evidence when there is one (a warehouse built before it has only English).
    has_zh = conn.execute(
        """SELECT count(*) FROM information_schema.columns WHERE table_schema = 'analytics'
           AND table_name = 'risk_signals' AND column_name = 'evidence_zh'"""
    ).fetchone()[0]
    evidence = "coalesce(evidence_zh, evidence)" if zh and has_zh else "evidence"
    rows = conn.execute(
        f"""SELECT signal_id, kind, subject_type, subject, score, {evidence}, first_seen
            FROM analytics.risk_signals WHERE status = 'open'
            ORDER BY score DESC, signal_id"""
    ).fetchall()
    alerts = []
    for signal, kind, subject_type, subject, score, evidence, first_seen in rows:
        if zh:
            title = f"风控信号：{kind}"
            text = (
                f"- 对象：{subject_type} **{subject}**\n- 分数：{score:.1f}\n"
                f"- 依据：{evidence}\n- 首次发现：{first_seen}"
            )
        else:
            title = f"Risk signal: {kind}"
            text = (
                f"- subject: {subject_type} **{subject}**\n- score: {score:.1f}\n"
                f"- evidence: {evidence}\n- first seen: {first_seen}"
            )
        alerts.append(Alert("risk", f"risk:{signal}:{first_seen}", str(subject), title, text))
    return alerts
