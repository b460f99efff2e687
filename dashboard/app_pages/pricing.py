"""Pricing: elasticities with intervals, recommendations and their guardrails, a what-if
control, and the export of the prices a pricing or admin user approves."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

import numpy as np
import pandas as pd
import streamlit as st

from cardpulse.settings import SettingsError, load_settings
from dashboard import approvals, figures, ui
from dashboard.data import access, exports
from dashboard.data import pricing as pricing_queries
from dashboard.i18n import code_label, column_label, money
from forecasting.pricing.guardrails import load_pricing_config
from pipelines.settings import BUSINESS_TZ, home

ELASTICITY_CHART_ROWS = 25
ACTIONS = ("raise", "lower", "hold", "test")

ctx = ui.page_context(access.PLATFORM_ROLES)
st.title(ctx.t("page_pricing"))
ui.build_caption(ctx)

recommended = ui.localized(ctx, ctx.query("recommendations"))
if ui.empty_notice(ctx, recommended, "price_recommendations"):
    st.stop()
categories = sorted(recommended["category"].dropna().unique()) if "category" in recommended else []
picked = st.multiselect(
    ctx.t("category"),
    categories,
    format_func=lambda code: code_label("category", code, ctx.lang),
    placeholder=ctx.t("choose"),
    select_all=False,  # Streamlit writes "Select all" in English; nothing picked = all
    key="pr_categories",
)
if picked:
    recommended = recommended[recommended["category"].isin(picked)]
recommended = recommended.reset_index(drop=True)
for column in (
    "current_price",
    "recommended_price",
    "unit_cost",
    "elasticity",
    "elasticity_low",
    "elasticity_high",
):
    recommended[column] = recommended[column].astype(float)

# --- elasticities
st.subheader(ctx.t("elasticities"))
# The chart stays readable with the recommendations that matter most; the table has them all.
charted = recommended.head(ELASTICITY_CHART_ROWS)
st.plotly_chart(
    figures.elasticities(
        charted,
        ctx.t("elasticity"),
        charted["region_code"].map(lambda code: code_label("region", code, ctx.lang)),
    ),
    key="elasticities",
)
if len(recommended) > len(charted):
    st.caption(ctx.t("chart_top", shown=len(charted), total=len(recommended)))

# --- recommendations and approval
st.subheader(ctx.t("recommendations"))
table_columns = [
    c
    for c in (
        "sku_id",
        "sku_name",
        "region_code",
        "current_price",
        "recommended_price",
        "unit_cost",
        "margin_pct",
        "elasticity",
        "expected_units_change_pct",
        "expected_profit_change_pct",
        "expected_profit_change",
        "guardrails_hit",
        "reason",
    )
    if c in recommended
]
# Shown with words and formats; approvals and exports use ``recommended`` itself.
shown_recommendations, shown_config = ui.display(
    ctx,
    recommended[table_columns],
    money=("current_price", "recommended_price", "unit_cost", "expected_profit_change"),
    formats={"margin_pct": "float1", "elasticity": "float2"},
)
can_approve = ctx.scope.role in access.APPROVER_ROLES
if can_approve:
    st.caption(ctx.t("approve_hint"))
    # Ticking "select all" redraws the editor with every row ticked; untick rows from there.
    every = st.checkbox(ctx.t("select_all_rows"), key="approve_all")
    editable = shown_recommendations.copy()
    editable.insert(0, "approve", every)
    edited = st.data_editor(
        editable,
        hide_index=True,
        key="approve_editor",
        disabled=table_columns,
        placeholder=ui.MISSING,
        column_config={
            "approve": st.column_config.CheckboxColumn(ctx.t("approve")),
            **shown_config,
        },
    )
    ticked = recommended[edited["approve"].to_numpy(dtype=bool)]
    st.caption(ctx.t("approved_count", count=len(ticked)))
    if st.button(ctx.t("approve_selected"), key="approve_selected", disabled=ticked.empty):
        try:
            stored = approvals.approve(
                home().approvals,
                ctx.scope,
                ctx.session.name,
                ticked,
                datetime.now(ZoneInfo(BUSINESS_TZ)),
            )
        except approvals.ApprovalsBusy:
            st.warning(ctx.t("approvals_busy"))
        except approvals.ApprovalsError as error:
            st.warning(ctx.t("approvals_unreadable", reason=str(error)))
        else:
            st.success(ctx.t("approvals_stored", stored=stored, ticked=len(ticked)))
else:
    st.dataframe(
        shown_recommendations,
        hide_index=True,
        key="recommendations_table",
        column_config=shown_config,
        placeholder=ui.MISSING,
    )
    st.info(ctx.t("approve_not_allowed"))

# --- approval history (every platform role reads it; only approvers write)
st.subheader(ctx.t("approval_history"))
try:
    approved = approvals.history(home().approvals, ctx.scope)
except approvals.ApprovalsBusy:
    st.warning(ctx.t("approvals_busy"))
    approved = pd.DataFrame()
except approvals.ApprovalsError as error:
    st.warning(ctx.t("approvals_unreadable", reason=str(error)))
    approved = pd.DataFrame()
if approved.empty:
    st.caption(ctx.t("no_approvals_yet"))
else:
    # Names and words, not codes: the SKU's name beside its id, the action, region and
    # guardrails in the page language; the export carries the same, with translated headers.
    names = ctx.query("recommendations").drop_duplicates("sku_id").set_index("sku_id")
    approved.insert(1, "sku_name", approved["sku_id"].map(names.get("sku_name", pd.Series())))
    keys = approved[["sku_id", "region_code", "as_of"]].copy()
    approved = approved.assign(
        action=approved["action"].map(lambda a: ctx.t(f"action_{a}") if a in ACTIONS else a),
        as_of=pd.to_datetime(approved["as_of"]).dt.strftime("%Y-%m-%d"),
        approved_at=pd.to_datetime(approved["approved_at"], utc=True)
        .dt.tz_convert(BUSINESS_TZ)
        .dt.strftime("%Y-%m-%d %H:%M"),
    )
    history_money = ("current_price", "approved_price", "unit_cost")
    shown_history, history_config = ui.display(ctx, approved, money=history_money)
    if can_approve:
        every_approval = st.checkbox(ctx.t("select_all_rows"), key="revoke_all")
        revocable = shown_history.copy()
        revocable.insert(0, "revoke", every_approval)
        edited_history = st.data_editor(
            revocable,
            hide_index=True,
            key="revoke_editor",
            disabled=list(shown_history.columns),
            placeholder=ui.MISSING,
            column_config={
                "revoke": st.column_config.CheckboxColumn(ctx.t("revoke")),
                **history_config,
            },
        )
        withdrawn = keys[edited_history["revoke"].to_numpy(dtype=bool)]
        if st.button(
            ctx.t("revoke_selected", count=len(withdrawn)),
            key="revoke_selected",
            disabled=withdrawn.empty,
        ):
            try:
                removed = approvals.revoke(
                    home().approvals,
                    ctx.scope,
                    ctx.session.name,
                    list(withdrawn.itertuples(index=False, name=None)),
                    datetime.now(ZoneInfo(BUSINESS_TZ)),
                )
            except approvals.ApprovalsBusy:
                st.warning(ctx.t("approvals_busy"))
            except approvals.ApprovalsError as error:
                st.warning(ctx.t("approvals_unreadable", reason=str(error)))
            else:
                st.session_state.pop("revoke_all", None)
                st.session_state["_revoked"] = removed
                st.rerun()
    else:
        st.dataframe(
            shown_history,
            hide_index=True,
            key="approval_history",
            column_config=history_config,
            placeholder=ui.MISSING,
        )
    exported = shown_history.rename(
        columns={c: column_label(str(c), ctx.lang) for c in shown_history.columns}
    )
    left, right = st.columns(2)
    ui.download_button(
        left,
        ctx.t("export_approved"),
        key="export_approved",
        mime="text/csv",
        data=exports.to_csv(exported),
        file_name="approved_prices.csv",
    )
    ui.download_button(
        right,
        ctx.t("export_approved_xlsx"),
        key="export_approved_xlsx",
        mime="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        data=lambda: exports.to_xlsx(
            {ctx.t("approval_history"): exported},
            money=tuple(column_label(c, ctx.lang) for c in history_money),
        ),
        file_name="approved_prices.xlsx",
    )
if "_revoked" in st.session_state:
    st.success(ctx.t("approvals_revoked", count=st.session_state.pop("_revoked")))


# --- what-if
# A fragment: picking a row or moving the price reruns only this part, so the recommendations
# table (hundreds of KB) and the elasticity chart are not rebuilt and re-sent on every move.
@st.fragment
def what_if_section(recommended: pd.DataFrame) -> None:
    st.subheader(ctx.t("what_if"))
    choices = list(recommended.index)
    picked = st.selectbox(
        ctx.t("what_if_pick"),
        choices,
        key="what_if_row",
        format_func=lambda i: (
            f"{recommended.at[i, 'sku_name']} ({recommended.at[i, 'sku_id']}) · "
            f"{code_label('region', recommended.at[i, 'region_code'], ctx.lang)}"
        ),
    )
    row = recommended.loc[picked]
    current_price = float(row["current_price"])
    try:
        pricing_config = load_settings().pricing
    except SettingsError as error:
        st.warning(ctx.t("pricing_config_unreadable", reason=str(error)))
        pricing_config = load_pricing_config(None)
    # The trial price stays within the guardrails the recommendation obeys: a price the stage
    # could never recommend (a ¥127 top-up capped at its ¥100 face value) is not offered.
    limits = pricing_queries.price_limits(row, pricing_config)
    low, high = limits.low, limits.high
    st.caption(
        ctx.t(
            "what_if_limits",
            low=money(low),
            high=money(high),
            low_rules=code_label("guardrail", ",".join(limits.low_rules), ctx.lang),
            high_rules=code_label("guardrail", ",".join(limits.high_rules), ctx.lang),
        )
    )
    if limits.conflicts:
        st.caption(
            ctx.t(
                "what_if_conflicts",
                rules=code_label("guardrail", ",".join(limits.conflicts), ctx.lang),
            )
        )
    if not low - 0.005 <= current_price <= high + 0.005:
        st.warning(ctx.t("what_if_current_outside", price=money(current_price)))
    if high - low < 0.01:
        st.info(ctx.t("what_if_single_price", price=money(low)))
        trial = low
    else:
        trial = st.slider(
            ctx.t("what_if_price"),
            min_value=low,
            max_value=high,
            value=float(min(max(round(float(row["recommended_price"]), 2), low), high)),
            step=0.01,
            format="¥%.2f",
            key=f"what_if_price_{picked}",
        )
    # The row carries the forecast's units over the horizon; an older snapshot without them falls
    # back to the last 28 days' average (one extra query, only then).
    baseline = (
        ctx.query("baseline_units", str(row["sku_id"]), str(row["region_code"]))
        if pd.isna(row.get("horizon_units", np.nan))
        else None
    )
    now_case = pricing_queries.what_if(row, current_price, baseline)
    trial_case = pricing_queries.what_if(row, trial, baseline)
    cells = st.columns(3)
    for cell, figure, label, shown in (
        (cells[0], "units", "expected_units", lambda v: f"{v:,.1f}"),
        (cells[1], "revenue", "expected_revenue", money),
        (cells[2], "profit", "expected_profit", money),
    ):
        change = trial_case[figure] - now_case[figure]
        cell.metric(
            ctx.t(label),
            shown(trial_case[figure]),
            f"{change:+,.1f}" if figure == "units" else money(change),
        )
        cell.caption(
            ctx.t(
                "what_if_range",
                low=shown(trial_case[f"{figure}_low"]),
                high=shown(trial_case[f"{figure}_high"]),
            )
        )
    # The curve covers the allowed prices (and today's, if it lies outside them), so its axis
    # shows the differences that matter there rather than losses at prices nobody may set.
    grid = np.linspace(low, max(high, low + 0.01), 41).round(2)
    prices = sorted({*grid, round(current_price, 2)})
    prices = [p for p in prices if min(low, current_price) <= p <= max(high, current_price)]
    cases = [pricing_queries.what_if(row, p, baseline) for p in prices]
    st.plotly_chart(
        figures.what_if_curve(
            prices,
            [case["profit"] for case in cases],
            current_price,
            trial,
            {
                "title": ctx.t("expected_profit"),
                "profit": ctx.t("expected_profit"),
                "band": ctx.t("what_if_band"),
                "current": ctx.t("current_price"),
                "trial": ctx.t("what_if_price"),
            },
            lows=[case["profit_low"] for case in cases],
            highs=[case["profit_high"] for case in cases],
        ),
        key="what_if_curve",
    )


what_if_section(recommended)
