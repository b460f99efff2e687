"""Data health: last build, freshness per table, quarantined rows with reasons, dbt test
results and forecast accuracy from the backtests (platform-wide)."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from dashboard import data, figures, ui
from dashboard.i18n import business_time

ctx = ui.page_context(data.PLATFORM_ROLES)
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
    cells[0].metric(ctx.t("build_status"), status)
    finished = last.get("finished_at")
    cells[1].metric(
        ctx.t("last_build"), business_time(finished.to_pydatetime()) if pd.notna(finished) else "—"
    )
    cells[2].metric(
        ctx.t("as_of"), str(last.get("as_of"))[:10] if pd.notna(last.get("as_of")) else "—"
    )
    if status not in ("success", "succeeded", "ok"):
        st.warning(str(last.get("message") or status))
    st.dataframe(
        builds, hide_index=True, key="builds_table", column_config=ui.column_config(ctx, builds)
    )

# --- freshness
st.subheader(ctx.t("freshness"))
fresh = ctx.query("freshness")
st.dataframe(
    fresh,
    hide_index=True,
    key="freshness_table",
    column_config=ui.column_config(ctx, fresh),
    height=35 * (len(fresh) + 1) + 3,  # every table at once, no inner scrolling
)

# --- quarantine
st.subheader(ctx.t("quarantine"))
summary = ctx.query("quarantine_summary")
if summary.empty:
    st.success(ctx.t("quarantine_none"))
else:
    st.dataframe(
        summary,
        hide_index=True,
        key="quarantine_summary",
        column_config=ui.column_config(ctx, summary),
    )
    latest_rows = ctx.query("quarantine_rows", 500)
    st.dataframe(
        latest_rows,
        hide_index=True,
        key="quarantine_rows",
        column_config=ui.column_config(ctx, latest_rows),
    )
    st.download_button(
        ctx.t("download_csv"),
        data=lambda: data.to_csv(data.load("quarantine_rows", ctx.snapshot, ctx.scope, None)),
        file_name="quarantine.csv",
        mime="text/csv",
        key="quarantine_csv",
    )

# --- dbt tests
st.subheader(ctx.t("dbt_tests"))
results = ctx.query("dbt_results")
if not ui.empty_notice(ctx, results, "dbt_results"):
    counts = results.groupby(["resource_type", "status"]).size().rename("count").reset_index()
    st.dataframe(
        counts, hide_index=True, key="dbt_counts", column_config=ui.column_config(ctx, counts)
    )
    failing = results[~results["status"].isin(["pass", "success"])]
    if not failing.empty:
        st.dataframe(
            failing,
            hide_index=True,
            key="dbt_failing",
            column_config=ui.column_config(ctx, failing),
        )

# --- forecast accuracy
st.subheader(ctx.t("forecast_accuracy"))
accuracy = ctx.query("backtest_accuracy")
if not ui.empty_notice(ctx, accuracy, "forecast_backtest"):
    st.plotly_chart(figures.accuracy(accuracy, ctx.t("forecast_accuracy")), key="accuracy")
    st.dataframe(
        accuracy,
        hide_index=True,
        key="accuracy_table",
        column_config=ui.column_config(ctx, accuracy, percent=("median_wape", "interval_coverage")),
    )
