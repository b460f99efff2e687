"""`generate()`: one simulated 卡盟 platform export plus the ground truth it was drawn from."""

from __future__ import annotations

import json
import os
import shutil
from dataclasses import asdict, dataclass, field
from datetime import date, timedelta
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from pipelines.errors import CardPulseError
from pipelines.simulator import commerce
from pipelines.simulator import expected_demand as demand_model
from pipelines.simulator import orders as order_model
from pipelines.simulator.catalogue import (
    CATEGORIES,
    ELASTICITY_RANGE,
    HEAVY_SELLER,
    REGIONAL_ELASTICITY_SD,
    SCALE_RANK,
    Catalogue,
    build_catalogue,
    build_merchants,
    suppliers_for,
)
from pipelines.simulator.dirty import DirtyInjector
from pipelines.simulator.faults import plant_faults
from pipelines.simulator.prices import PriceBook, build_price_book
from pipelines.simulator.provinces import REGION_CODES
from pipelines.simulator.simulated_calendar import (
    FUTURE_DAYS,
    HISTORY_DAYS,
    Calendar,
    build_calendar,
)
from pipelines.simulator.stock import StockHistory, StockPolicy, simulate_stock
from pipelines.simulator.writer import FORMATS, labels, money, timestamps, write_table

SCALES = tuple(SCALE_RANK)
TARGET_ORDERS = {"small": 50_000, "medium": 2_000_000, "large": 20_000_000}
DEFAULT_END_DATE = date(2026, 10, 31)
TRUTH_DIR = "_truth"
STAGING_DIR = ".generate-tmp"
# The contract's file-name prefixes: whatever ingestion would read from the folder.
EXPORT_PREFIXES = (
    "orders",
    "skus",
    "merchants",
    "suppliers",
    "price_changes",
    "events",
    "inventory",
    "supplier_balances",
    "payments",
    "card_batches",
    "agents",
)
DAY = order_model.DAY_SECONDS
_EPOCH = date(1970, 1, 1)

# Independent random streams, so changing one part of the model leaves the others' draws alone.
_STREAMS = (
    "catalogue",
    "merchants",
    "prices",
    "events",
    "demand",
    "orders",
    "stock",
    "channels",
    "settle",
    "balances",
    "outages",
    "dirty",
    "joined",
    "agents",
    "coupons",
    "payments",
    "attempts",
)


@dataclass(frozen=True)
class GenerationSummary:
    out_dir: str
    scale: str
    seed: int
    fmt: str
    dirty: bool
    start_date: str
    end_date: str
    orders: int  # distinct order ids
    demand_orders: int  # paid, delivered, failed or refunded
    order_rows: int  # rows over all orders files (status changes arrive as later rows)
    skus: int
    merchants: int
    suppliers: int
    card_key_stockout_share: float  # share of card-key SKU-days on sale with no keys at all
    dirty_rows: int
    files: list[str] = field(default_factory=list)
    faults: bool = False
    fault_rows: int = 0  # planted discrepancies + fraud rings (--faults), in _truth/faults.csv


def _rng(seed: int, stream: str) -> np.random.Generator:
    return np.random.default_rng([seed, _STREAMS.index(stream)])


def _day_seconds(day: date) -> int:
    return (day - _EPOCH).days * DAY


def _calibrate_base(cat: Catalogue, cal: Calendar, prices: PriceBook, events, scale: str, rng):
    """Base units per SKU: niche SKUs sell 0.1-1.2 orders a day at any scale; the others
    share the scale's order target in proportion to popularity."""
    ones = np.ones(len(cat))
    shape = demand_model.expected_demand(cat, cal, prices, events, ones, rng)
    hist = cal.history_days
    mean_q = np.array([order_model.quantity_mean(c) for c in cat.category])
    orders_per_base = shape.expected_units[:, :, :hist].sum(axis=(1, 2)) / mean_q
    days_on_sale = np.maximum((np.minimum(cat.end_day, hist) - cat.launch_day), 1)
    niche_rate = rng.uniform(0.1, 1.2, len(cat))
    base = np.zeros(len(cat))
    niche = cat.is_niche
    base[niche] = niche_rate[niche] * days_on_sale[niche] / orders_per_base[niche]
    target_demand = TARGET_ORDERS[scale] / (1 + order_model.UNPAID_SHARE)
    niche_orders = (base[niche] * orders_per_base[niche]).sum()
    weight = cat.popularity * ~niche
    k = max(target_demand - niche_orders, 0) / (weight * orders_per_base).sum()
    base[~niche] = k * weight[~niche]
    return demand_model.DemandTruth(
        baseline_units=shape.baseline_units * base[:, None, None],
        expected_units=shape.expected_units * base[:, None, None],
        elasticity=shape.elasticity,
        region_share=shape.region_share,
    ), base


def _stock_policy(cat: Catalogue, suppliers, keys: np.ndarray) -> StockPolicy:
    spec = {s.supplier_id: s for s in suppliers}
    sup = [spec[s] for s in cat.supplier_id[keys]]
    return StockPolicy(
        lead_days=np.array([max(1, int(np.ceil(s.lead_time_hours / 24))) for s in sup]),
        min_order_qty=np.array([s.min_order_qty for s in sup]),
        batch_size=np.array([s.batch_size for s in sup]),
        shelf_life_days=cat.shelf_life_days[keys],
        launch_day=cat.launch_day[keys],
        end_day=cat.end_day[keys],
    )


def _supplier_balances(cost: np.ndarray, rng) -> np.ndarray:
    """Prepaid balances: drawn down by completed top-ups, topped up in lumps of 10k CNY when
    they fall under 3-5 days of recent spend."""
    n_sup, n_days = cost.shape
    balance = np.zeros((n_sup, n_days), dtype=np.int64)
    threshold_days = rng.uniform(3, 5, n_sup)
    for j in range(n_sup):
        spend = cost[j]
        current = int(np.ceil(max(spend[:14].mean(), 1) * 14 / 1e6) * 1e6) + 1_000_000
        for d in range(n_days):
            current -= int(spend[d])
            recent = spend[max(0, d - 6) : d + 1].mean()
            if current < threshold_days[j] * recent:
                lump = int(np.ceil(recent * rng.uniform(10, 20) / 1e6) * 1e6)
                current += max(lump, 1_000_000)
            balance[j, d] = current
    return balance


def _month_of_day(cal: Calendar) -> np.ndarray:
    return np.array([str(d)[:7] for d in cal.days])


def _yyyymmdd(cal: Calendar) -> np.ndarray:
    return np.array([int(str(d).replace("-", "")) for d in cal.days], dtype=np.int64)


def _orders_table(orders, rows, idx, cat, merchants, prices, cal, suppliers_ids, whole):
    o = rows.order[idx]
    sku = orders.sku[o]
    region = orders.region[o]
    day = orders.day[o]
    order_number = _yyyymmdd(cal)[day] * 1_000_000_000 + orders.rank[o]
    order_id = pc.binary_join_element_wise("O", pa.array(order_number).cast(pa.string()), "")
    buyer = 1_000_000_000 + (orders.buyer[o] * 2_654_435_761 + 97) % 1_000_000_000
    buyer_id = pc.binary_join_element_wise("U", pa.array(buyer).cast(pa.string()), "")
    never = order_model.NEVER
    sup_index = {s: i for i, s in enumerate(suppliers_ids)}
    sku_supplier = np.array([sup_index[s] for s in cat.supplier_id])
    columns = {
        "order_id": order_id,
        "created_at": timestamps(orders.created[o]),
        "updated_at": timestamps(rows.updated[idx]),
        "paid_at": timestamps(rows.paid[idx], rows.paid[idx] == never),
        "delivered_at": timestamps(rows.delivered[idx], rows.delivered[idx] == never),
        "merchant_id": labels(merchants.merchant_id, orders.merchant[o]),
        "sku_id": labels(cat.sku_id, sku),
        "quantity": pa.array(orders.quantity[o].astype(np.int64)),
        "unit_price": money(prices.unit_cents[sku, region, day]),
        "unit_cost": money(_order_cost_cents(orders, prices, whole, o)),
        "list_price": money(prices.list_cents[sku, region, day]),
        "status": labels(order_model.STATUSES, rows.status[idx]),
        "region_code": labels(REGION_CODES, region),
        "channel": labels(order_model.CHANNELS, orders.channel[o]),
        "supplier_id": labels(suppliers_ids, sku_supplier[sku]),
        "buyer_id": buyer_id,
        "payment_method": labels(order_model.PAYMENT_METHODS, orders.payment[o]),
    }
    columns.update(_whole_order_columns(orders, rows, idx, o, cat, order_number, whole))
    return pa.table(columns)


@dataclass(frozen=True)
class WholeOrder:
    """Issue #18's simulated facts: agents, coupons, money per order, card-key batches."""

    agents: commerce.Agents
    coupons: commerce.Coupons
    extras: commerce.OrderExtras
    batches: commerce.Batches
    batch_ids: list


def _order_cost_cents(orders, prices, whole: WholeOrder, o=slice(None)) -> np.ndarray:
    """Per order (of the index ``o``), the supplier cost per unit it books: its batch's unit
    cost when its keys came from a batch (the cost of the keys delivered), else the cost
    price of its day."""
    cost = prices.cost_cents[orders.sku[o], orders.day[o]].astype(np.int64)
    batch = whole.extras.batch[o]
    has = batch >= 0
    b = whole.batches
    cost[has] = prices.cost_cents[b.sku[batch[has]], b.day[batch[has]]]
    return cost


def _whole_order_columns(orders, rows, idx, o, cat, order_number, whole: WholeOrder) -> dict:
    """Payment, coupon, agent, delivery and batch columns of export rows, with the buyer's
    raw contact and IP (ingest replaces them by keyed hashes)."""
    x = whole.extras
    is_paid = rows.paid[idx] != order_model.NEVER
    coupon, agent, batch = x.coupon[o], x.agent[o], x.batch[o]
    quantity = orders.quantity[o].astype(np.int64)
    paid = x.paid_cents[o]
    is_key = cat.delivery_type[orders.sku[o]] == "card_key"
    manual = is_key & (orders.terminal[o] - orders.paid[o] > 60)
    mode = np.where(is_key, np.where(manual, 1, 0), 2)
    channel = x.channel[o]
    balance = commerce.PAYMENT_CHANNELS.index("balance")
    trade_no = pc.binary_join_element_wise("T", pa.array(order_number).cast(pa.string()), "")
    contact, ip = commerce.contacts(orders.buyer[o])
    return {
        # A coupon order's unit price is what the buyer paid per unit, rounded; paid_amount
        # is the exact total.
        "unit_price": money(np.where(coupon >= 0, (2 * paid + quantity) // (2 * quantity),
                                     x.gross_cents[o] // quantity)),
        "paid_amount": money(paid, ~is_paid),
        "payment_channel": labels(commerce.PAYMENT_CHANNELS, channel, ~is_paid),
        "payment_fee": money(x.fee_cents[o], ~is_paid),
        "coupon_code": labels(whole.coupons.code, np.maximum(coupon, 0), coupon < 0),
        "discount_amount": money(x.discount_cents[o], coupon < 0),
        "agent_id": labels(whole.agents.agent_id, np.maximum(agent, 0), agent < 0),
        "agent_commission": money(x.commission_cents[o], agent < 0),
        "delivery_mode": labels(("auto", "manual", "upstream"), mode),
        "gateway_trade_no": pc.if_else(pa.array(is_paid & (channel != balance)), trade_no, None),
        "card_batch_id": labels(whole.batch_ids, np.maximum(batch, 0), batch < 0),
        "buyer_contact": contact,
        "buyer_ip": ip,
    }  # fmt: skip


def _truth_table(cat, cal, prices, truth, stock_out, demand_units, sold_units) -> pa.Table:
    n_sku, n_region, n_days = truth.expected_units.shape
    hist = cal.history_days
    s, r, d = (
        a.ravel()
        for a in np.meshgrid(
            np.arange(n_sku), np.arange(n_region), np.arange(n_days), indexing="ij"
        )
    )
    is_future = d >= hist
    stockout = np.zeros((n_sku, n_days), dtype=bool)
    stockout[:, :hist] = stock_out
    hist_mask = is_future
    return pa.table(
        {
            "sku_id": labels(cat.sku_id, s),
            "region_code": labels(REGION_CODES, r),
            "ds": pa.array(cal.days[d]),
            "expected_units": pa.array(np.round(truth.expected_units.ravel(), 6)),
            "baseline_units": pa.array(np.round(truth.baseline_units.ravel(), 6)),
            "unit_price": pa.array(prices.unit_cents.ravel() / 100.0),
            "list_price": pa.array(prices.list_cents.ravel() / 100.0),
            "reference_price": pa.array(prices.reference_price[s]),
            "unit_cost": pa.array(prices.cost_cents[s, d] / 100.0),
            "face_value": pa.array(cat.face_value[s]),
            "elasticity": pa.array(truth.elasticity[s, r]),
            "is_stockout": pa.array(stockout[s, d], mask=hist_mask),
            "is_future": pa.array(is_future),
            "demand_units": pa.array(_pad_future(demand_units, n_days).ravel(), mask=hist_mask),
            "sold_units": pa.array(_pad_future(sold_units, n_days).ravel(), mask=hist_mask),
        }
    )


def _pad_future(history: np.ndarray, n_days: int) -> np.ndarray:
    out = np.zeros(history.shape[:-1] + (n_days,), dtype=np.int64)
    out[..., : history.shape[-1]] = history
    return out


def _cell_units(orders, n_sku, n_region, hist) -> np.ndarray:
    cell = (orders.sku.astype(np.int64) * n_region + orders.region) * hist + orders.day
    units = np.bincount(cell, weights=orders.quantity, minlength=n_sku * n_region * hist)
    return units.astype(np.int64).reshape(n_sku, n_region, hist)


def generate(
    out_dir: str | os.PathLike,
    scale: str = "small",
    seed: int = 0,
    dirty: bool = False,
    fmt: str = "csv",
    end_date: date = DEFAULT_END_DATE,
    faults: bool = False,
) -> GenerationSummary:
    """Write one simulated platform export into `out_dir` and its ground truth into
    `out_dir/_truth/`.

    1. Calendar, catalogue, suppliers, merchants; 2. prices, promotions and events;
    3. expected demand (the truth), calibrated to the scale's order count; 4. orders drawn
    from it, rationed by the card-key stock the platform managed to keep; 5. statuses,
    refunds and outages, and the export rows; 6. every export file, then the truth.
    Same arguments -> same bytes in every file.
    """
    if scale not in SCALES:
        raise ValueError(f"scale must be one of {', '.join(SCALES)}, not {scale!r}")
    if fmt not in FORMATS:
        raise ValueError(f"format must be one of {', '.join(FORMATS)}, not {fmt!r}")
    if dirty and faults:
        # The planted faults' truth (amounts to the fen, batch draw-down) is counted on the
        # clean rows; dirty ones (text timestamps, duplicates) would make it wrong.
        raise CardPulseError("--faults cannot be combined with --dirty: generate one or the other")
    final_out = Path(out_dir)
    final_out.mkdir(parents=True, exist_ok=True)
    _refuse_foreign_export(final_out)
    # Everything is written into a hidden staging folder and moved into place at the end,
    # so a failed run never leaves a half-written export (ingestion ignores subfolders).
    out = final_out / STAGING_DIR
    if out.exists():
        shutil.rmtree(out)
    truth_dir = out / TRUTH_DIR
    truth_dir.mkdir(parents=True)

    cal = build_calendar(end_date)
    hist, n_days = cal.history_days, cal.n_days
    day0 = _day_seconds(cal.start)
    export_end = day0 + hist * DAY - 1
    cat = build_catalogue(scale, _rng(seed, "catalogue"), hist, n_days)
    suppliers = suppliers_for(scale)
    supplier_ids = [s.supplier_id for s in suppliers]
    merchants = build_merchants(scale, _rng(seed, "merchants"), hist)
    prices = build_price_book(cat, cal, _rng(seed, "prices"))
    events = demand_model.calendar_events(cal, _rng(seed, "events"))
    truth, base_units = _calibrate_base(cat, cal, prices, events, scale, _rng(seed, "demand"))

    # Orders: draw, ration by stock, add the unpaid ones, then who/how/when.
    drawn = order_model.draw_demand(
        truth.expected_units[:, :, :hist], cat, day0, _rng(seed, "orders")
    )
    n_sku, n_region = len(cat), len(REGION_CODES)
    demand_units = _cell_units(drawn, n_sku, n_region, hist)
    keys = np.flatnonzero(cat.is_card_key)
    prior = truth.expected_units[keys].sum(axis=1)
    prior_daily = np.array(
        [prior[i, cat.launch_day[k] : cat.launch_day[k] + 28].mean() for i, k in enumerate(keys)]
    )
    stock = simulate_stock(
        demand_units[keys].sum(axis=1),
        prior_daily,
        _stock_policy(cat, suppliers, keys),
        _rng(seed, "stock"),
    )
    available = np.full((n_sku, hist), np.iinfo(np.int64).max // 4, dtype=np.int64)
    available[keys] = stock.available
    served = order_model.ration_stock(drawn, available)
    del drawn
    sold_units = _cell_units(served, n_sku, n_region, hist)
    orders = order_model.add_unpaid(served, day0, _rng(seed, "orders"))
    del served
    order_model.assign_merchants(orders, merchants, _rng(seed, "channels"))
    order_model.assign_channels(orders, merchants, cat, _rng(seed, "channels"))
    # One generator per stream, shared by its steps (two fresh ones would draw the same numbers).
    agent_rng, coupon_rng = _rng(seed, "agents"), _rng(seed, "coupons")
    agents = commerce.build_agents(merchants, hist, agent_rng)
    coupons = commerce.plan_coupons(
        merchants, _merchant_daily_orders(orders, len(merchants), hist), hist, scale,
        coupon_rng,
    )  # fmt: skip
    orders, coupon_of_order = commerce.add_coupon_orders(orders, coupons, day0, coupon_rng)
    topup_suppliers = [s.supplier_id for s in suppliers if s.delivery_type == "direct_topup"]
    windows = order_model.outage_windows(topup_suppliers, day0, hist, _rng(seed, "outages"))
    order_model.settle(orders, cat, windows, _rng(seed, "settle"))
    rows = order_model.export_rows(orders, export_end)
    batches = commerce.card_batches(stock.received, keys)
    opening = np.zeros(n_sku, dtype=np.int64)  # keys on hand before the first day, no batch
    opening[keys] = stock.available[:, 0] - stock.received[:, 0]
    batch_dates = _yyyymmdd(cal)[batches.day].astype(str)
    whole = WholeOrder(
        agents=agents,
        coupons=coupons,
        extras=commerce.order_money(
            orders,
            {
                "coupon": coupon_of_order,
                "agent": commerce.assign_agents(orders, agents, len(merchants), hist, agent_rng),
                "channel": commerce.payment_channels(orders, _rng(seed, "payments")),
                "batch": commerce.batch_of_orders(
                    orders, batches, opening, cat.shelf_life_days, export_end
                ),
            },
            prices.unit_cents[orders.sku, orders.region, orders.day],
            coupons,
            agents,
        ),
        batches=batches,
        batch_ids=[f"B-{cat.sku_id[k]}-{d}" for k, d in zip(batches.sku, batch_dates, strict=True)],
    )

    files: list[str] = []
    gzip_orders = fmt == "csv" and scale != "small"
    dirty_log = DirtyInjector(seed, fmt, gzip_orders) if dirty else None

    # Orders files by month of updated_at, rows in updated_at then order-number order.
    row_order = np.lexsort((orders.rank[rows.order], rows.updated))
    month_names, month_of_day = np.unique(_month_of_day(cal), return_inverse=True)
    row_month = month_of_day[(rows.updated[row_order] - day0) // DAY]
    present = np.unique(row_month)
    bounds = np.searchsorted(row_month, np.r_[present, len(month_names)])
    months = [str(month_names[m]) for m in present]
    for i, month in enumerate(months):
        idx = row_order[bounds[i] : bounds[i + 1]]
        table = _orders_table(orders, rows, idx, cat, merchants, prices, cal, supplier_ids, whole)
        stem = f"orders_{month}"
        if dirty_log is not None:
            table = dirty_log.orders(table, stem, i, len(months), cat)
        files.append(write_table(table, out, stem, fmt, gzip_csv=gzip_orders).name)

    files += _write_reference_files(
        out,
        fmt,
        cat,
        cal,
        suppliers,
        merchants,
        prices,
        events,
        stock,
        keys,
        day0,
        orders,
        rows,
        dirty_log,
        _rng(seed, "balances"),
        _rng(seed, "joined"),
    )
    files += _write_whole_order_files(
        out, fmt, orders, whole, cat, merchants, prices, cal, day0, export_end, gzip_orders,
        _rng(seed, "attempts"),
    )  # fmt: skip
    stockout_share = _stockout_share(stock, cat, keys, hist)

    # Ground truth.
    write_table(
        _truth_table(
            cat, cal, prices, truth, _stock_flags(stock, cat, keys, hist), demand_units, sold_units
        ),
        truth_dir,
        "expected_demand",
        "parquet",
    )
    _write_elasticities(truth_dir, cat, truth)
    _write_sku_truth(truth_dir, cat, prices, base_units, cal)
    _write_promotions(truth_dir, cat, cal, prices)
    _write_outages(truth_dir, windows)
    _write_whole_order_truth(truth_dir, orders, whole, merchants, prices, cal, export_end)
    n_dirty = dirty_log.write(truth_dir) if dirty_log is not None else 0
    planted = None
    if faults:  # after the clean files, so a faulted export holds every clean row
        planted = plant_faults(out, truth_dir, fmt, scale, seed, gzip_orders)
        files = sorted(set(files) | set(planted.files))
    demand_statuses = np.isin(orders.terminal_status, [order_model.DELIVERED, order_model.FAILED])
    summary = GenerationSummary(
        out_dir=str(final_out),
        scale=scale,
        seed=seed,
        fmt=fmt,
        dirty=dirty,
        start_date=cal.start.isoformat(),
        end_date=cal.end.isoformat(),
        orders=len(orders),
        demand_orders=int(demand_statuses.sum()),
        order_rows=len(rows),
        skus=len(cat),
        merchants=len(merchants),
        suppliers=len(suppliers),
        card_key_stockout_share=round(stockout_share, 4),
        dirty_rows=n_dirty,
        files=sorted(files),
        faults=faults,
        fault_rows=0 if planted is None else planted.discrepancies + planted.rings,
    )
    _write_settings(truth_dir, summary, cal, base_units)
    _publish(out, final_out)
    return summary


def _export_files(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if p.is_file() and p.name.startswith(EXPORT_PREFIXES))


def _refuse_foreign_export(out: Path) -> None:
    """Replacing an earlier generated export is fine; deleting someone's own files is not."""
    if (out / TRUTH_DIR / "settings.json").exists():
        return
    foreign = _export_files(out)
    if foreign:
        raise CardPulseError(
            f"{out} already holds export files not written by cardpulse generate "
            f"(e.g. {foreign[0].name}); choose an empty folder"
        )


def _publish(stage: Path, out: Path) -> None:
    """Replace the previous export (files and truth) by the staged one."""
    for path in _export_files(out):
        path.unlink()
    if (out / TRUTH_DIR).exists():
        shutil.rmtree(out / TRUTH_DIR)
    for path in sorted(stage.iterdir()):
        os.replace(path, out / path.name)
    stage.rmdir()


def _stock_flags(stock: StockHistory, cat, keys, hist) -> np.ndarray:
    """[sku, day]: a card-key SKU on sale with no key at all that day."""
    flags = np.zeros((len(cat), hist), dtype=bool)
    flags[keys] = stock.is_stockout & _on_sale(cat, keys, hist)
    return flags


def _on_sale(cat: Catalogue, keys, hist) -> np.ndarray:
    d = np.arange(hist)[None, :]
    return (d >= cat.launch_day[keys, None]) & (d < cat.end_day[keys, None])


def _stockout_share(stock, cat, keys, hist) -> float:
    on_sale = _on_sale(cat, keys, hist)
    return float((stock.is_stockout & on_sale).sum() / max(on_sale.sum(), 1))


def _write_reference_files(
    out,
    fmt,
    cat,
    cal,
    suppliers,
    merchants,
    prices,
    events,
    stock,
    keys,
    day0,
    orders,
    rows,
    dirty_log,
    rng_balance,
    rng_joined,
):
    hist = cal.history_days
    files = []
    shelf = cat.shelf_life_days
    skus = pa.table(
        {
            "sku_id": pa.array(cat.sku_id.tolist()),
            "name": pa.array(cat.name.tolist()),
            "category": pa.array(cat.category.tolist()),
            "brand": pa.array(cat.brand.tolist()),
            "face_value": money(np.rint(cat.face_value * 100).astype(np.int64)),
            "delivery_type": pa.array(cat.delivery_type.tolist()),
            "supplier_id": pa.array(cat.supplier_id.tolist()),
            "shelf_life_days": pa.array(shelf, mask=shelf == 0, type=pa.int64()),
            "active": pa.array(cat.end_day >= cal.n_days),
        }
    )
    joined_hour = rng_joined.integers(9, 22, len(merchants))
    joined_seconds = day0 + merchants.joined_day * DAY + joined_hour * 3600
    parent = merchants.parent_index
    merchant_table = pa.table(
        {
            "merchant_id": pa.array(merchants.merchant_id.tolist()),
            "name": pa.array(merchants.name.tolist()),
            "tier": pa.array(merchants.tier.tolist()),
            "parent_merchant_id": labels(merchants.merchant_id, np.maximum(parent, 0), parent < 0),
            "region_code": labels(REGION_CODES, merchants.home_region),
            "joined_at": timestamps(joined_seconds),
        }
    )
    supplier_table = pa.table(
        {
            "supplier_id": pa.array([s.supplier_id for s in suppliers]),
            "name": pa.array([s.name for s in suppliers]),
            "lead_time_hours": pa.array([float(s.lead_time_hours) for s in suppliers]),
            "min_order_qty": pa.array([s.min_order_qty for s in suppliers], pa.int64()),
            "batch_size": pa.array([s.batch_size for s in suppliers], pa.int64()),
        }
    )
    region = prices.change_region
    price_changes = pa.table(
        {
            "sku_id": labels(cat.sku_id, prices.change_sku),
            "region_code": labels(REGION_CODES, np.maximum(region, 0), region < 0),
            "effective_at": timestamps(day0 + prices.change_day * DAY),
            "list_price": money(prices.change_list_cents),
            "unit_cost": money(prices.change_cost_cents),
        }
    )
    first, last = cal.start, cal.days[-1].astype(object)
    all_events = [
        e
        for e in list(events) + _promotion_events(cat, cal, prices)
        if e.end >= first and e.start <= last
    ]
    all_events.sort(key=lambda e: (e.start, e.name, e.scope))
    events_table = pa.table(
        {
            "name": pa.array([e.name for e in all_events]),
            "start_date": pa.array([e.start for e in all_events], pa.date32()),
            "end_date": pa.array([e.end for e in all_events], pa.date32()),
            "scope": pa.array([e.scope for e in all_events]),
        }
    )
    # Inventory: one end-of-day snapshot per card-key SKU per day it is on sale.
    on_sale = _on_sale(cat, keys, hist)
    k_idx, d_idx = np.nonzero(on_sale)
    inventory = pa.table(
        {
            "as_of": timestamps(day0 + d_idx * DAY + DAY - 1),
            "sku_id": labels(cat.sku_id, keys[k_idx]),
            "supplier_id": labels(cat.supplier_id, keys[k_idx]),
            "on_hand": pa.array(stock.on_hand[k_idx, d_idx]),
            "on_order": pa.array(stock.on_order[k_idx, d_idx]),
            "expiring_7d": pa.array(stock.expiring_7d[k_idx, d_idx]),
        }
    )
    order_d = np.argsort(d_idx, kind="stable")
    inventory = inventory.take(pa.array(order_d))
    topups = [s for s in suppliers if s.delivery_type == "direct_topup"]
    cost = order_model.topup_cost_by_day(orders, cat, prices.cost_cents, topups, day0, hist)
    balance = _supplier_balances(cost, rng_balance)
    b_day, b_sup = np.nonzero(np.ones_like(balance, dtype=bool).T)  # by day, then supplier
    balances = pa.table(
        {
            "as_of": timestamps(day0 + b_day * DAY + DAY - 1),
            "supplier_id": labels([s.supplier_id for s in topups], b_sup),
            "balance": money(balance[b_sup, b_day]),
        }
    )
    tables = [
        ("skus", skus),
        ("merchants", merchant_table),
        ("suppliers", supplier_table),
        ("price_changes", price_changes),
        ("events", events_table),
        ("inventory", inventory),
        ("supplier_balances", balances),
    ]
    for stem, table in tables:
        encoding, bom = "utf-8", False
        if dirty_log is not None and fmt == "csv":
            encoding, bom = dirty_log.encoding_for(stem)
        files.append(write_table(table, out, stem, fmt, encoding=encoding, bom=bom).name)
    return files


def _promotion_events(cat, cal, prices) -> list:
    """National promotions are platform campaigns the operator knows and lists."""
    days = cal.days
    events = []
    for p in prices.promotions:
        if p.regions:
            continue
        pct = round((1 - p.discount) * 100, 1)
        label = f"{pct / 10:g}折"
        events.append(
            demand_model.Event(
                f"限时特惠 {cat.name[p.sku_index]} {label}",
                days[p.start].astype(object),
                days[p.end].astype(object),
                f"sku:{cat.sku_id[p.sku_index]}",
            )
        )
    return events


def _write_elasticities(truth_dir: Path, cat, truth) -> None:
    n_sku, n_region = truth.elasticity.shape
    s, r = np.divmod(np.arange(n_sku * n_region), n_region)
    table = pa.table(
        {
            "sku_id": labels(cat.sku_id, s),
            "region_code": labels(REGION_CODES, r),
            "elasticity": pa.array(truth.elasticity.ravel()),
            "sku_elasticity": pa.array(cat.elasticity[s]),
            "region_share": pa.array(np.round(truth.region_share.ravel(), 6)),
        }
    )
    write_table(table, truth_dir, "elasticities", "csv")


def _write_sku_truth(truth_dir: Path, cat, prices, base_units, cal) -> None:
    days = cal.days
    table = pa.table(
        {
            "sku_id": pa.array(cat.sku_id.tolist()),
            "category": pa.array(cat.category.tolist()),
            "delivery_type": pa.array(cat.delivery_type.tolist()),
            "face_value": pa.array(cat.face_value),
            "reference_price": pa.array(prices.reference_price),
            "base_units_per_day": pa.array(np.round(base_units, 6)),
            "elasticity": pa.array(cat.elasticity),
            "is_niche": pa.array(cat.is_niche),
            "is_heavy_seller": pa.array(cat.sku_id == HEAVY_SELLER),
            "launch_date": pa.array(days[np.minimum(cat.launch_day, len(days) - 1)]),
            "discontinued_date": pa.array(
                days[np.minimum(cat.end_day, len(days) - 1)], mask=cat.end_day >= len(days)
            ),
        }
    )
    write_table(table, truth_dir, "skus", "csv")


def _write_promotions(truth_dir: Path, cat, cal, prices) -> None:
    promos = prices.promotions
    table = pa.table(
        {
            "sku_id": pa.array([cat.sku_id[p.sku_index] for p in promos], pa.string()),
            "start_date": pa.array(cal.days[np.array([p.start for p in promos], dtype=np.int64)]),
            "end_date": pa.array(cal.days[np.array([p.end for p in promos], dtype=np.int64)]),
            "discount": pa.array([p.discount for p in promos], pa.float64()),
            "regions": pa.array(
                [" ".join(REGION_CODES[r] for r in p.regions) for p in promos], pa.string()
            ),
        }
    )
    write_table(table, truth_dir, "promotions", "csv")


def _write_outages(truth_dir: Path, windows) -> None:
    sup, start, end = [], [], []
    for supplier, (s, e) in windows.items():
        sup += [supplier] * len(s)
        start.append(s)
        end.append(e)
    start = np.concatenate(start) if start else np.zeros(0, dtype=np.int64)
    end = np.concatenate(end) if end else np.zeros(0, dtype=np.int64)
    write_table(
        pa.table(
            {
                "supplier_id": pa.array(sup, pa.string()),
                "start_at": timestamps(start),
                "end_at": timestamps(end),
            }
        ),
        truth_dir,
        "outages",
        "csv",
    )


def _write_settings(truth_dir: Path, summary: GenerationSummary, cal: Calendar, base) -> None:
    future_end = cal.days[-1].astype(object)
    settings = {
        # Without out_dir: the same seed gives the same bytes wherever it is written.
        "summary": {k: v for k, v in asdict(summary).items() if k != "out_dir"},
        "history_days": HISTORY_DAYS,
        "future_days": FUTURE_DAYS,
        "future_start_date": (cal.end + timedelta(days=1)).isoformat(),
        "future_end_date": future_end.isoformat(),
        "timezone": "Asia/Shanghai (timestamps are wall time without offset)",
        "heavy_seller": HEAVY_SELLER,
        "target_orders": TARGET_ORDERS[summary.scale],
        "parameters": {
            "categories": list(CATEGORIES),
            "elasticity_range": ELASTICITY_RANGE,
            "regional_elasticity_sd": REGIONAL_ELASTICITY_SD,
            "weekly_pattern_mon_to_sun": demand_model.WEEKLY,
            "holiday_lift": demand_model.HOLIDAY_LIFT,
            "festival_peak_lift": demand_model.FESTIVAL_PEAK,
            "school_holiday_lift": demand_model.SCHOOL_HOLIDAY_LIFT,
            "trend_per_year": demand_model.TREND_PER_YEAR,
            "day_shock_gamma_shape": order_model.DAY_SHOCK_SHAPE,
            "cell_shock_gamma_shape": order_model.CELL_SHOCK_SHAPE,
            "unpaid_share": order_model.UNPAID_SHARE,
            "refund_probability": order_model.REFUND_PROBABILITY,
            "background_topup_failure": order_model.BACKGROUND_FAILURE,
            "quantity_distribution": {
                "values": order_model.QUANTITY_VALUES.tolist(),
                "probabilities": order_model.QUANTITY_PROBS,
            },
        },
    }
    text = json.dumps(settings, ensure_ascii=False, indent=2, sort_keys=True, default=str)
    (truth_dir / "settings.json").write_text(text + "\n", encoding="utf-8")


def _merchant_daily_orders(orders, n_merchants: int, hist: int) -> np.ndarray:
    """[merchant, day] paid orders (before coupons): where coupons can be measured."""
    paid = ~orders.is_unpaid
    flat = orders.merchant[paid].astype(np.int64) * hist + orders.day[paid]
    return np.bincount(flat, minlength=n_merchants * hist).reshape(n_merchants, hist)


def _write_whole_order_files(
    out, fmt, orders, whole: WholeOrder, cat, merchants, prices, cal, day0, export_end,
    gzip_csv, rng,
):  # fmt: skip
    """agents, card_batches and payments files."""
    agents = whole.agents
    agents_table = pa.table(
        {
            "agent_id": pa.array(agents.agent_id.tolist(), pa.string()),
            "merchant_id": labels(merchants.merchant_id, agents.merchant),
            "parent_agent_id": labels(
                agents.agent_id, np.maximum(agents.parent, 0), agents.parent < 0
            ),
            "commission_pct": pa.array(agents.commission_pct.astype(float)),
            "joined_at": timestamps(day0 + agents.joined_day * DAY + 10 * 3600),
        }
    )
    b = whole.batches
    shelf = cat.shelf_life_days[b.sku]
    received = day0 + b.day * DAY + 10 * 3600
    batches_table = pa.table(
        {
            "batch_id": pa.array(whole.batch_ids, pa.string()),
            "sku_id": labels(cat.sku_id, b.sku),
            "supplier_id": labels(cat.supplier_id, b.sku),
            "keys": pa.array(b.keys.astype(np.int64)),
            "unit_cost": money(prices.cost_cents[b.sku, b.day]),
            "received_at": timestamps(received),
            "expires_at": timestamps(received + shelf * DAY, shelf == 0),
        }
    )
    x = whole.extras
    index, number, status, created, callback = commerce.payment_attempts(orders, x, export_end, rng)
    order_number = _yyyymmdd(cal)[orders.day[index]] * 1_000_000_000 + orders.rank[index]
    number_text = pa.array(order_number * 10 + number).cast(pa.string())
    is_success = status != 1
    balance = commerce.PAYMENT_CHANNELS.index("balance")
    trade_no = pc.binary_join_element_wise("T", pa.array(order_number).cast(pa.string()), "")
    payments_table = pa.table(
        {
            "payment_id": pc.binary_join_element_wise("P", number_text, ""),
            "order_id": pc.binary_join_element_wise(
                "O", pa.array(order_number).cast(pa.string()), ""
            ),
            "channel": labels(commerce.PAYMENT_CHANNELS, x.channel[index]),
            "amount": money(x.paid_cents[index]),
            "fee": money(np.where(is_success, x.fee_cents[index], 0)),
            "status": labels(("success", "failed", "refunded"), status),
            "created_at": timestamps(created),
            "callback_at": timestamps(callback, callback == order_model.NEVER),
            "gateway_trade_no": pc.if_else(
                pa.array(is_success & (x.channel[index] != balance)), trade_no, None
            ),
        }
    )
    payments_table = payments_table.take(pa.array(np.argsort(created, kind="stable")))
    return [
        write_table(agents_table, out, "agents", fmt).name,
        write_table(batches_table, out, "card_batches", fmt).name,
        write_table(payments_table, out, "payments", fmt, gzip_csv=gzip_csv).name,
    ]


def _write_whole_order_truth(truth_dir, orders, whole: WholeOrder, merchants, prices, cal,
                             export_end) -> None:  # fmt: skip
    """coupons.csv (true incremental orders), agents.csv, payment_channels.csv and
    profit.json (the waterfall over demand orders as of the export's end, to the fen)."""
    c = whole.coupons
    days = cal.days
    write_table(
        pa.table(
            {
                "coupon_code": pa.array(c.code.tolist(), pa.string()),
                "merchant_id": labels(merchants.merchant_id, c.merchant),
                "start_date": pa.array(days[c.start]),
                "end_date": pa.array(days[c.start + commerce.COUPON_DAYS - 1]),
                "discount_pct": pa.array(c.discount_pct.astype(float)),
                "uplift": pa.array(np.round(c.uplift, 6)),
                "cannibalisation": pa.array(np.round(c.cannibalisation, 6)),
                "incremental_orders": pa.array(c.incremental),
            }
        ),
        truth_dir,
        "coupons",
        "csv",
    )
    a = whole.agents
    write_table(
        pa.table(
            {
                "agent_id": pa.array(a.agent_id.tolist(), pa.string()),
                "merchant_id": labels(merchants.merchant_id, a.merchant),
                "commission_pct": pa.array(a.commission_pct.astype(float)),
                "share_mid_history": pa.array(np.round(a.share, 6)),
                "share_growth_per_year": pa.array(np.round(a.growth, 6)),
            }
        ),
        truth_dir,
        "agents",
        "csv",
    )
    write_table(
        pa.table(
            {
                "payment_channel": pa.array(list(commerce.PAYMENT_CHANNELS)),
                "fee_rate": pa.array([commerce.FEE_RATE[p] for p in commerce.PAYMENT_CHANNELS]),
                "failure_rate": pa.array(
                    [commerce.FAILURE_RATE[p] for p in commerce.PAYMENT_CHANNELS]
                ),
            }
        ),
        truth_dir,
        "payment_channels",
        "csv",
    )
    x = whole.extras
    demand = orders.paid <= export_end
    kept = demand & (orders.refund > export_end)
    cost = _order_cost_cents(orders, prices, whole) * orders.quantity
    steps = {
        "gmv": int(x.gross_cents[kept].sum()),
        "discount_amount": int(x.discount_cents[kept].sum()),
        "payment_fee": int(x.fee_cents[demand].sum()),
        "agent_commission": int(x.commission_cents[kept].sum()),
        "cost_amount": int(cost[kept].sum()),
    }
    steps["net_profit"] = (
        steps["gmv"]
        - steps["discount_amount"]
        - steps["payment_fee"]
        - steps["agent_commission"]
        - steps["cost_amount"]
    )
    profit = {
        "definition": "demand orders as of the export's end; a refunded order keeps only its "
        "payment fee; CNY",
        "demand_orders": int(demand.sum()),
        **{name: f"{cents / 100:.2f}" for name, cents in steps.items()},
    }
    (truth_dir / "profit.json").write_text(json.dumps(profit, indent=2) + "\n")
