"""Operations: restock risk, purchase orders per supplier, prepaid funding, supplier
performance and low-stock alerts (platform-wide; not offered to merchant users)."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from dashboard import figures, ui
from dashboard.data import access, exports
from dashboard.i18n import code_label, money

ctx = ui.page_context(access.PLATFORM_ROLES)
st.title(ctx.t("page_operations"))
ui.build_caption(ctx)

RISK_NAMES = {
    "out_now": ctx.t("risk_out_now"),
    "before_arrival": ctx.t("risk_before_arrival"),
    "fine": ctx.t("risk_fine"),
    "expiring": ctx.t("expiring_keys"),
    "low_stock": ctx.t("low_stock"),
}


def _risk_style(value: str) -> str:
    colour = {name: figures.RISK_COLOURS[key] for key, name in RISK_NAMES.items()}.get(value)
    return f"background-color: {colour}; color: white" if colour else ""


plan = ui.localized(ctx, ctx.query("restock"))

# --- filters: supplier and category narrow every table below (nothing picked = all)
with st.expander(ctx.t("filters"), expanded=True):
    left, right = st.columns(2)
    picked_suppliers = left.multiselect(
        ctx.t("supplier"),
        sorted(plan["supplier_id"].dropna().unique()) if "supplier_id" in plan else [],
        placeholder=ctx.t("choose"),
        select_all=False,  # Streamlit writes "Select all" in English; nothing picked = all
        key="ops_suppliers",
    )
    picked_categories = right.multiselect(
        ctx.t("category"),
        sorted(plan["category"].dropna().unique()) if "category" in plan else [],
        format_func=lambda code: code_label("category", code, ctx.lang),
        placeholder=ctx.t("choose"),
        select_all=False,
        key="ops_categories",
    )


def _narrowed(frame: pd.DataFrame, by_sku: bool = True) -> pd.DataFrame:
    """Rows of the picked suppliers and categories: by the frame's own columns, else (alerts,
    orders) by the plan's SKUs that pass."""
    if frame.empty or not (picked_suppliers or picked_categories):
        return frame
    keep = pd.Series(True, index=frame.index)
    if picked_suppliers and "supplier_id" in frame:
        keep &= frame["supplier_id"].isin(picked_suppliers)
    if picked_categories and "category" in frame:
        keep &= frame["category"].isin(picked_categories)
    if by_sku and "sku_id" in frame and not {"supplier_id", "category"} <= set(frame.columns):
        keep &= frame["sku_id"].isin(_narrowed(plan, by_sku=False)["sku_id"])
    return frame[keep]


# --- restock plan
st.subheader(ctx.t("restock_plan"))
if not ui.empty_notice(ctx, plan, "restock_plan"):
    plan = _narrowed(plan)
if not plan.empty:
    counts = plan["risk"].value_counts()
    cells = st.columns(3)
    for cell, risk in zip(cells, ("out_now", "before_arrival", "fine"), strict=True):
        cell.metric(RISK_NAMES[risk], int(counts.get(risk, 0)))
    st.plotly_chart(figures.days_of_cover(plan, RISK_NAMES, ctx.t("days_of_cover")), key="cover")
    shown = plan.assign(risk=plan["risk"].map(RISK_NAMES))
    columns = [
        c
        for c in (
            "risk",
            "sku_id",
            "sku_name",
            "supplier_id",
            "on_hand",
            "on_order",
            "daily_demand",
            "days_of_cover",
            "stockout_date",
            "safety_stock",
            "reorder_point",
            "order_qty",
            "order_by",
            "reason",
        )
        if c in shown
    ]
    ui.table(
        ctx,
        shown[columns],
        key="restock_table",
        formats={"days_of_cover": "float1", "daily_demand": "float1"},
        style=lambda frame: frame.style.map(_risk_style, subset=["risk"]),
    )

elif picked_suppliers or picked_categories:
    st.info(ctx.t("no_rows_in_filter"))

# --- purchase orders
st.subheader(ctx.t("purchase_orders"))
orders = _narrowed(ui.localized(ctx, ctx.query("purchase_orders")))
if plan.empty:
    pass
elif orders.empty:
    st.success(ctx.t("no_orders_needed"))
else:
    suppliers = sorted(orders["supplier_id"].unique())
    supplier = st.selectbox(ctx.t("supplier"), suppliers, key="po_supplier")
    lines = orders[orders["supplier_id"] == supplier]
    ui.table(ctx, lines, key="po_table", money=("unit_cost", "amount"))
    if "amount" in lines:
        st.metric(ctx.t("po_total", supplier=supplier), money(lines["amount"].astype(float).sum()))
    left, right = st.columns(2)
    ui.download_button(
        left,
        ctx.t("download_csv"),
        data=exports.to_csv(lines),
        file_name=f"purchase_order_{supplier}.csv",
        mime="text/csv",
        key="po_csv",
    )
    ui.download_button(
        right,
        ctx.t("download_xlsx"),
        data=lambda: exports.to_xlsx(
            {str(s): orders[orders["supplier_id"] == s] for s in suppliers},
            money=("unit_cost", "amount"),
        ),
        file_name="purchase_orders.xlsx",
        key="po_xlsx",
        mime="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    )

# --- funding plan
st.subheader(ctx.t("funding_plan"))
funding = _narrowed(ui.localized(ctx, ctx.query("funding")), by_sku=False)
if not ui.empty_notice(ctx, funding, "funding_plan"):
    if "topup_by" in funding.columns:
        # No date means the balance lasts the horizon: say so, rather than show "None".
        funding = funding.assign(
            topup_by=funding["topup_by"].map(
                lambda day: (
                    ctx.t("no_topup_needed")
                    if pd.isna(day)
                    else pd.Timestamp(day).date().isoformat()
                )
            )
        )
    ui.table(
        ctx,
        funding,
        key="funding_table",
        money=("balance", "daily_cost", "topup_amount", "safety_buffer"),
        formats={"days_of_cover": "float1"},
    )

# --- supplier performance
st.subheader(ctx.t("supplier_performance"))
performance = _narrowed(ctx.query("supplier_performance"), by_sku=False)
if not ui.empty_notice(ctx, performance, "fct_supplier_performance"):
    st.plotly_chart(
        figures.supplier_performance(
            performance,
            {
                "title": ctx.t("supplier_performance"),
                "success_rate": ctx.t("success_rate"),
                "latency_p95": ctx.t("latency_p95"),
            },
        ),
        key="suppliers",
    )
    ui.table(
        ctx,
        performance,
        key="supplier_table",
        percent=("success_rate", "refund_rate"),
        formats={"latency_p95_seconds": "float1"},
    )

# --- alerts
st.subheader(ctx.t("low_stock_alerts"))
alerts = _narrowed(ui.localized(ctx, ctx.query("low_stock_alerts")))
if alerts.empty:
    st.success(ctx.t("no_alerts"))
else:
    shown_alerts = alerts.assign(alert=alerts["alert"].map(RISK_NAMES).fillna(alerts["alert"]))
    ui.table(
        ctx,
        shown_alerts,
        key="alerts_table",
        formats={"days_of_cover": "float1"},
        style=lambda frame: frame.style.map(_risk_style, subset=["alert"]),
    )
    if isinstance(alerts, pd.DataFrame) and "expiring_7d" in alerts:
        st.caption(ctx.t("expiring_keys") + f": {int(alerts['expiring_7d'].fillna(0).sum()):,}")
