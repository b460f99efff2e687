"""Risk and reconciliation (issue #19): what does not reconcile (orders vs payments, card keys,
supplier balances) and the risk signals, each with its evidence and a CSV (ops and admin)."""

from __future__ import annotations

import streamlit as st

from dashboard import ui
from dashboard.data import exports, queries
from dashboard.data.risk import RECON_TABLES

ctx = ui.page_context(("ops", "admin"))
st.title(ctx.t("page_risk"))
ui.build_caption(ctx)

st.subheader(ctx.t("recon_summary"))
summary = ctx.query("recon_summary")
if summary.empty:
    st.success(ctx.t("recon_none"))
else:
    ui.table(ctx, summary, key="recon_summary", money=("amount",))

for table in RECON_TABLES:
    st.subheader(ctx.t(table))
    rows = ctx.query("recon_rows", table)
    if rows.empty:
        st.info(ctx.t("recon_table_empty"))
        continue
    ui.table(ctx, rows, key=table, money=("amount",))
    ui.download_button(
        st,
        ctx.t("download_csv"),
        data=lambda table=table: exports.to_csv(
            queries.load("recon_rows", ctx.snapshot, ctx.scope, table)
        ),
        file_name=f"{table}.csv",
        mime="text/csv",
        key=f"{table}_csv",
    )

st.subheader(ctx.t("risk_signals"))
st.caption(ctx.t("risk_hint"))
signals = ctx.query("risk_rows")
if signals.empty:
    st.success(ctx.t("risk_none"))
else:
    if "evidence_zh" in signals:  # the viewer's language; the CSV keeps both
        if ctx.lang == "zh":
            signals["evidence"] = signals["evidence_zh"].fillna(signals["evidence"])
        signals = signals.drop(columns="evidence_zh")
    ui.table(ctx, signals, key="risk_signals", money=("amount",), formats={"score": "float2"})
    ui.download_button(
        st,
        ctx.t("download_csv"),
        data=lambda: exports.to_csv(queries.load("risk_rows", ctx.snapshot, ctx.scope)),
        file_name="risk_signals.csv",
        mime="text/csv",
        key="risk_csv",
    )
