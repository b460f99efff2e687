"""Data health: last build, freshness per table, quarantined rows with reasons, dbt test
results and forecast accuracy from the backtests (platform-wide)."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from dashboard import figures, ui
from dashboard.data import access, exports, queries
from dashboard.i18n import business_time, code_label, message_label

ctx = ui.page_context(access.PLATFORM_ROLES)
st.title(ctx.t("page_health"))

# --- last build
st.subheader(ctx.t("last_build"))
builds = ctx.query("build_info")
if builds.empty:
    st.info(ctx.t("no_build_info"))
else:
    last = builds.iloc[0]
    cells = st.columns(3)
    status = str(last.get("status", "—"))
    cells[0].metric(ctx.t("build_status"), code_label("status", status, ctx.lang))
    finished = last.get("finished_at")
    cells[1].metric(
        ctx.t("last_build"), business_time(finished.to_pydatetime()) if pd.notna(finished) else "—"
    )
    cells[2].metric(
        ctx.t("as_of"), str(last.get("as_of"))[:10] if pd.notna(last.get("as_of")) else "—"
    )
    if status not in ("success", "succeeded", "ok"):
        st.warning(message_label(last.get("message") or status, ctx.lang))
    ui.table(ctx, builds, key="builds_table")

# --- freshness
st.subheader(ctx.t("freshness"))
fresh = ctx.query("freshness")
ui.table(
    ctx,
    fresh,
    key="freshness_table",
    height=35 * (len(fresh) + 1) + 3,  # every table at once, no inner scrolling
)

# --- quarantine
st.subheader(ctx.t("quarantine"))
summary = ctx.query("quarantine_summary")
if summary.empty:
    st.success(ctx.t("quarantine_none"))
else:
    st.caption(ctx.t("quarantine_hint"))
    ui.table(ctx, summary, key="quarantine_summary")
    latest_rows = ctx.query("quarantine_rows", 500)
    ui.table(ctx, latest_rows, key="quarantine_rows")
    ui.download_button(
        st,
        ctx.t("download_csv"),
        data=lambda: exports.to_csv(queries.load("quarantine_rows", ctx.snapshot, ctx.scope, None)),
        file_name="quarantine.csv",
        mime="text/csv",
        key="quarantine_csv",
    )

# --- alert notifications (the outbox)
st.subheader(ctx.t("notifications"))
outbox = ctx.query("notify_summary")
if outbox.empty:
    st.info(ctx.t("notify_none"))
else:
    st.caption(ctx.t("notify_hint"))
    failed = int(outbox.loc[outbox["status"].isin(["failed", "interrupted"]), "rows"].sum())
    if failed:
        st.error(ctx.t("notify_failed", count=failed))
    ui.table(ctx, outbox, key="notify_summary")
    ui.table(ctx, ctx.query("notify_messages"), key="notify_messages")

# --- inferred master data
st.subheader(ctx.t("inferred"))
inferred = ctx.query("inferred_members")
if inferred.empty:
    st.success(ctx.t("inferred_none"))
else:
    st.caption(ctx.t("inferred_hint"))
    counts = inferred.groupby("entity").size().rename("rows").reset_index()
    ui.table(ctx, counts, key="inferred_counts")
    ui.table(ctx, inferred, key="inferred_members")

# --- dbt tests
st.subheader(ctx.t("dbt_tests"))
results = ctx.query("dbt_results")
if not ui.empty_notice(ctx, results, "dbt_results"):
    counts = results.groupby(["resource_type", "status"]).size().rename("count").reset_index()
    ui.table(ctx, counts, key="dbt_counts")
    failing = results[~results["status"].isin(["pass", "success"])]
    if not failing.empty:
        ui.table(ctx, failing, key="dbt_failing", formats={"execution_seconds": "float2"})

# --- forecast accuracy
st.subheader(ctx.t("forecast_accuracy"))
accuracy = ctx.query("backtest_accuracy")
if not ui.empty_notice(ctx, accuracy, "forecast_backtest"):
    charted = accuracy.assign(
        model=accuracy["model"].map(lambda code: code_label("model", code, ctx.lang))
    )
    st.plotly_chart(figures.accuracy(charted, ctx.t("forecast_accuracy")), key="accuracy")
    ui.table(
        ctx,
        accuracy,
        key="accuracy_table",
        percent=("median_wape", "interval_coverage"),
        formats={"mean_mase": "float2", "mean_bias": "float2"},
    )
