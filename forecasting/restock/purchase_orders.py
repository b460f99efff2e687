"""Purchase orders: the plan's order lines grouped per supplier, and their CSV / XLSX export."""

from __future__ import annotations

import io
import re

import numpy as np
import pandas as pd

from forecasting.restock.output_schema import PO_SCHEMA

PO_COLUMNS = list(PO_SCHEMA)

# Column headings of the exported files, in both languages the buyers read.
EXPORT_HEADINGS = {
    "po_id": "PO / 采购单号", "supplier_id": "Supplier ID / 供应商编号",
    "supplier_name": "Supplier / 供应商", "sku_id": "SKU", "sku_name": "Product / 商品",
    "order_qty": "Quantity / 数量", "batch_size": "Batch / 每批", "batches": "Batches / 批数",
    "min_order_qty": "MOQ / 起订量", "moq_met": "MOQ met / 满足起订量",
    "unit_cost": "Unit cost CNY / 单价", "line_cost": "Line cost CNY / 金额",
    "order_by": "Order by / 最晚下单日", "reason_en": "Reason", "reason_zh": "原因",
}  # fmt: skip


def purchase_order_lines(
    plan: pd.DataFrame, suppliers: pd.DataFrame, skus: pd.DataFrame
) -> pd.DataFrame:
    """One row per ordered SKU, with its supplier's PO totals.

    1. Keep plan lines with a positive order; 2. add names, batches, line cost, MOQ check;
    3. per supplier: PO id (``PO-<as_of>-<supplier>``), line count, total quantity and cost, and
    the earliest order_by of its lines (the PO must go out by then).
    """
    lines = plan[plan["order_qty"] > 0].copy()
    if lines.empty:
        return pd.DataFrame(columns=PO_COLUMNS)
    names = suppliers.set_index("supplier_id")["name"] if "name" in suppliers else pd.Series()
    sku_names = skus.set_index("sku_id")["name"] if "name" in skus else pd.Series()
    lines["supplier_name"] = lines["supplier_id"].map(names)
    lines["sku_name"] = lines["sku_id"].map(sku_names)
    lines["batches"] = (lines["order_qty"] // lines["batch_size"]).astype("int64")
    lines["moq_met"] = lines["order_qty"] >= lines["min_order_qty"]
    lines["line_cost"] = (lines["order_qty"] * lines["unit_cost"]).round(2)
    as_of = pd.to_datetime(lines["as_of"]).dt.strftime("%Y%m%d")
    lines["po_id"] = "PO-" + as_of + "-" + lines["supplier_id"].fillna("UNKNOWN").astype(str)
    per_po = lines.groupby("po_id")
    lines["po_lines"] = per_po["sku_id"].transform("count").astype("int64")
    lines["po_total_qty"] = per_po["order_qty"].transform("sum").astype("int64")
    # A PO with any line of unknown cost has an unknown total, not a smaller one.
    lines["po_total_cost"] = per_po["line_cost"].transform(
        lambda cost: np.nan if cost.isna().any() else round(float(cost.sum()), 2)
    )
    lines["po_order_by"] = per_po["order_by"].transform("min")
    return lines.sort_values(["po_id", "sku_id"])[PO_COLUMNS].reset_index(drop=True)


def _for_export(lines: pd.DataFrame, supplier_id: str | None) -> pd.DataFrame:
    if supplier_id is not None:
        lines = lines[lines["supplier_id"] == supplier_id]
    return lines[list(EXPORT_HEADINGS)].rename(columns=EXPORT_HEADINGS)


def purchase_orders_csv(lines: pd.DataFrame, supplier_id: str | None = None) -> bytes:
    """The PO lines (one supplier's or all) as CSV bytes, UTF-8 with BOM so Excel shows 中文."""
    return _for_export(lines, supplier_id).to_csv(index=False).encode("utf-8-sig")


def _sheet_name(po_id: str, used: set[str]) -> str:
    name = re.sub(r"[\[\]:*?/\\]", "_", po_id)[:31]
    base, counter = name, 2
    while name in used:
        suffix = f"~{counter}"
        name, counter = base[: 31 - len(suffix)] + suffix, counter + 1
    used.add(name)
    return name


def purchase_orders_xlsx(lines: pd.DataFrame, supplier_id: str | None = None) -> bytes:
    """The PO lines as an Excel workbook: a summary sheet, then one sheet per PO."""
    buffer = io.BytesIO()
    selected = lines if supplier_id is None else lines[lines["supplier_id"] == supplier_id]
    summary = (
        selected.groupby(["po_id", "supplier_id", "supplier_name"], dropna=False)
        .agg(lines=("sku_id", "count"), quantity=("order_qty", "sum"),
             cost=("line_cost", "sum"), order_by=("order_by", "min"))
        .reset_index()
    )  # fmt: skip
    used: set[str] = {"Summary"}
    with pd.ExcelWriter(buffer, engine="openpyxl") as writer:
        summary.to_excel(writer, sheet_name="Summary", index=False)
        for po_id, po_lines in selected.groupby("po_id", sort=True):
            sheet = _for_export(po_lines, None)
            sheet.to_excel(writer, sheet_name=_sheet_name(str(po_id), used), index=False)
    return buffer.getvalue()


def export_purchase_orders(lines: pd.DataFrame, fmt: str, supplier_id: str | None = None) -> bytes:
    """What the dashboard's download button calls: ``fmt`` is ``csv`` or ``xlsx``."""
    if fmt == "csv":
        return purchase_orders_csv(lines, supplier_id)
    if fmt == "xlsx":
        return purchase_orders_xlsx(lines, supplier_id)
    raise ValueError(f"unknown export format {fmt!r}: use csv or xlsx")
