"""`cardpulse generate --faults`: reconciliation faults and fraud rings planted in an export.

Planted after the clean export is written (into the same staging folder), so a clean export
and a faulted one share every clean row. New orders go to ``orders_faults.<ext>``, new
payment attempts to ``payments_faults.<ext>`` and new batches to ``card_batches_faults.<ext>``
(ingest reads files by prefix); a planted order carries a batch only when its fault is about
one (so the clean batches' draw-down stays whole); a supplier
balance gap rewrites ``supplier_balances``. The truth goes to ``_truth/faults.csv`` (one row
per reconciliation discrepancy, with the amount to the fen) and ``_truth/risk_rings.csv``
(one row per fraud ring, with the raw buyer contact / IP / merchant it is about: the product
only ever sees their keyed hashes).

Discrepancies (``kind``, the ``recon_*`` table that must report it):
- ``paid_not_delivered`` (recon_orders_payments): paid 2-20 days before the export ends,
  never delivered; amount = the paid amount.
- ``delivered_without_payment``: delivered, only a failed attempt; amount = the order's paid amount.
- ``paid_twice``: a clean delivered order gets a second successful attempt (a duplicate
  callback); amount = the second attempt.
- ``amount_mismatch``: the gateway received 0.01-9.99 less than the order says; amount = the gap.
- ``refund_without_payment``: refunded, no successful attempt; amount = the order's paid amount.
- ``key_delivered_twice`` (recon_card_keys): a second delivered card-key order carrying a clean
  order's gateway trade number and batch and no payment of its own (the duplicate callback
  that delivered twice); amount = its paid amount.
- ``key_delivered_to_two_orders`` (recon_card_keys): two delivered, paid card-key orders of
  one SKU whose ``card_key_ids`` share a key (the second got the first one's first key, plus
  new ones if it bought more); amount = the second order's paid amount for that one key (all
  of it for one key, else its share to the fen). Beside each, a pair of orders sharing a
  ``loop:`` key (sold again and again by design) that must not be reported.
- ``batch_mismatch`` (recon_card_keys): keys delivered naming a batch of another SKU, or
  before the batch arrived; amount = quantity x the batch's unit cost.
- ``batch_overdrawn`` (recon_card_keys): a delivered order names a batch with only a few keys
  left and takes 1-3 more than it holds; amount = the excess x the batch's unit cost.
- ``batch_cost_mismatch`` (recon_card_keys): a delivered order draws keys from a batch with
  keys left but books a unit cost 0.01-1.99 above the batch's; amount = keys x the difference.
- ``batch_never_drawn`` (recon_card_keys): a batch (in ``card_batches_faults``) received the
  day before a batch of the same SKU that was drawn, with no key ever delivered from it;
  amount = its keys x its unit cost.
- ``supplier_balance_gap`` (recon_supplier_balances): a supplier's balance falls by an amount
  no top-up order explains, on a day without a deposit; every later snapshot carries it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path

import duckdb
import numpy as np
import pyarrow as pa

from pipelines.ingest.entities import ENTITIES
from pipelines.simulator.writer import MONEY, TIMESTAMP, write_table

RECON_KINDS = {
    "paid_not_delivered": "recon_orders_payments",
    "delivered_without_payment": "recon_orders_payments",
    "paid_twice": "recon_orders_payments",
    "amount_mismatch": "recon_orders_payments",
    "refund_without_payment": "recon_orders_payments",
    "key_delivered_twice": "recon_card_keys",
    "key_delivered_to_two_orders": "recon_card_keys",
    "batch_mismatch": "recon_card_keys",
    "batch_overdrawn": "recon_card_keys",
    "batch_cost_mismatch": "recon_card_keys",
    "batch_never_drawn": "recon_card_keys",
    "supplier_balance_gap": "recon_supplier_balances",
}
RING_KINDS = (
    "buyer_velocity",
    "ip_velocity",
    "card_testing",
    "refund_abuse",
    "merchant_refund_abuse",
    "unpaid_holding_stock",
)
# Faults of each kind and rings of each kind, by scale.
PER_KIND = {"small": 3, "medium": 8, "large": 12}
RINGS_PER_KIND = {"small": 2, "medium": 6, "large": 10}
CENT = Decimal("0.01")

_MONEY_COLUMNS = {
    "unit_price",
    "unit_cost",
    "list_price",
    "paid_amount",
    "payment_fee",
    "discount_amount",
    "agent_commission",
    "amount",
    "fee",
    "balance",
}
_TIME_COLUMNS = {
    "created_at",
    "updated_at",
    "paid_at",
    "delivered_at",
    "callback_at",
    "as_of",
    "received_at",
    "expires_at",
}
# The contract's card_batches columns, as ingest reads them.
BATCH_COLUMNS = [column.name for column in ENTITIES["card_batches"].columns]


@dataclass(frozen=True)
class FaultSummary:
    discrepancies: int
    rings: int
    files: list[str]


def _reader(fmt: str, path: str) -> str:
    if fmt == "parquet":
        return f"read_parquet('{path}', union_by_name = true)"
    if fmt == "jsonl":
        return f"read_json('{path}', format = 'newline_delimited', union_by_name = true)"
    return f"read_csv('{path}', union_by_name = true, all_varchar = true)"


def _money(value) -> Decimal | None:
    if value is None or value == "":
        return None
    return Decimal(str(value)).quantize(CENT)


def _time(value) -> datetime | None:
    if value is None or value == "":
        return None
    if isinstance(value, datetime):
        return value
    return datetime.fromisoformat(str(value))


def _schema(columns: list[str]) -> pa.Schema:
    fields = []
    for name in columns:
        if name in _MONEY_COLUMNS:
            fields.append(pa.field(name, MONEY))
        elif name in _TIME_COLUMNS:
            fields.append(pa.field(name, TIMESTAMP))
        elif name in ("quantity", "keys"):
            fields.append(pa.field(name, pa.int64()))
        else:
            fields.append(pa.field(name, pa.string()))
    return pa.schema(fields)


def _table(rows: list[dict], columns: list[str]) -> pa.Table:
    return pa.Table.from_pylist(
        [{c: row.get(c) for c in columns} for row in rows], _schema(columns)
    )


class _Planter:
    """Holds the clean templates and the rows planted so far."""

    def __init__(self, out: Path, fmt: str, seed: int):
        self.rng = np.random.default_rng([seed, 1919])
        self.fmt = fmt
        con = duckdb.connect()
        orders = _reader(fmt, str(out / "orders_*"))
        # The last row of each order, from its final month file onwards.
        con.execute(f"CREATE TABLE o AS SELECT * FROM {orders}")
        self.order_columns = [r[0] for r in con.execute("DESCRIBE o").fetchall()]
        if "card_key_ids" not in self.order_columns:  # planted key faults name their keys
            self.order_columns.append("card_key_ids")
        con.execute(
            "CREATE TABLE latest AS SELECT * FROM o QUALIFY row_number() OVER "
            "(PARTITION BY order_id ORDER BY CAST(updated_at AS TIMESTAMP) DESC) = 1"
        )
        self.export_end = _time(
            con.execute("SELECT max(CAST(updated_at AS TIMESTAMP)) FROM latest").fetchone()[0]
        )
        skus = _reader(fmt, str(out / "skus.*"))
        con.execute(f"CREATE TABLE s AS SELECT sku_id, delivery_type FROM {skus}")
        since = self.export_end - timedelta(days=45)
        self.templates = self._rows(
            con,
            "SELECT latest.*, s.delivery_type FROM latest JOIN s USING (sku_id) WHERE status = "
            "'delivered' AND CAST(created_at AS TIMESTAMP) >= ? AND "
            "CAST(delivered_at AS TIMESTAMP) < ? ORDER BY order_id",
            [since, self.export_end - timedelta(days=1)],
        )
        batches = _reader(fmt, str(out / "card_batches.*"))
        self.batches = self._rows(con, f"SELECT * FROM {batches} ORDER BY batch_id")
        # Keys the clean orders delivered from each batch.
        self.drawn = dict(
            con.execute(
                "SELECT card_batch_id, sum(CAST(quantity AS BIGINT)) FROM latest WHERE "
                "delivered_at IS NOT NULL AND card_batch_id IS NOT NULL GROUP BY 1"
            ).fetchall()
        )
        balances = _reader(fmt, str(out / "supplier_balances.*"))
        self.balance_columns = ["as_of", "supplier_id", "balance"]
        self.balances = self._rows(con, f"SELECT * FROM {balances}")
        self.payment_columns = [
            "payment_id",
            "order_id",
            "channel",
            "amount",
            "fee",
            "status",
            "created_at",
            "callback_at",
            "gateway_trade_no",
        ]
        con.close()
        self.orders: list[dict] = []
        self.payments: list[dict] = []
        self.truth: list[dict] = []
        self.rings: list[dict] = []
        self.new_batches: list[dict] = []
        self.serial = 0
        self.topups: list[tuple] = []  # (supplier, delivered_at, cost) of planted top-ups

    @staticmethod
    def _rows(con, sql: str, params=None) -> list[dict]:
        cursor = con.execute(sql, params or [])
        names = [d[0] for d in cursor.description]
        return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]

    def pick(self, rows: list[dict]) -> dict:
        return dict(rows[int(self.rng.integers(len(rows)))])

    def new_id(self, prefix: str) -> str:
        self.serial += 1
        return f"{prefix}F{self.serial:07d}"

    def order_like(self, template: dict, created: datetime, status: str, **changes) -> dict:
        """A new order copied from a clean one: same SKU, merchant and prices, new id/times."""
        row = {c: template.get(c) for c in self.order_columns}
        for name in _MONEY_COLUMNS & set(row):
            row[name] = _money(row[name])
        for name in _TIME_COLUMNS & set(row):
            row[name] = _time(row[name])
        row["quantity"] = int(row["quantity"])
        order_id = self.new_id("O")
        paid = created + timedelta(seconds=int(self.rng.integers(10, 90)))
        delivered = paid + timedelta(seconds=int(self.rng.integers(5, 120)))
        row.update(
            order_id=order_id,
            created_at=created,
            paid_at=paid if status in ("paid", "delivered", "refunded", "failed") else None,
            delivered_at=delivered if status in ("delivered", "refunded") else None,
            updated_at=delivered if status in ("delivered", "refunded") else paid,
            status=status,
            gateway_trade_no=f"T{order_id[1:]}",
            coupon_code=None,
            discount_amount=None,
            agent_id=None,
            agent_commission=None,
        )
        if status in ("pending_payment", "cancelled"):
            row.update(
                paid_at=None,
                updated_at=created + timedelta(minutes=15),
                paid_amount=None,
                payment_fee=None,
                gateway_trade_no=None,
            )
        if status == "refunded":
            row["updated_at"] = delivered + timedelta(hours=int(self.rng.integers(2, 48)))
        row.update(changes)
        # A batch only when the fault is about one: the clean batches' draw-down stays whole.
        if "card_batch_id" not in changes:
            row["card_batch_id"] = None
        if row["delivered_at"] is not None and template.get("delivery_type") == "direct_topup":
            self.topups.append(
                (
                    row["supplier_id"],
                    row["delivered_at"],
                    (_money(row["unit_cost"]) or Decimal(0)) * row["quantity"],
                )
            )
        if row["paid_amount"] is not None and "paid_amount" not in changes:
            row["paid_amount"] = (row["unit_price"] * row["quantity"]).quantize(CENT)
        if row["updated_at"] is not None and row["updated_at"] > self.export_end:
            row["updated_at"] = self.export_end
        self.orders.append(row)
        return row

    def payment(self, order: dict, status: str, at: datetime, amount=None) -> dict:
        row = {
            "payment_id": self.new_id("P"),
            "order_id": order["order_id"],
            "channel": order.get("payment_channel"),
            "amount": amount
            if amount is not None
            else order["paid_amount"] or (order["unit_price"] * order["quantity"]).quantize(CENT),
            "fee": Decimal("0.00"),
            "status": status,
            "created_at": at,
            "callback_at": at + timedelta(seconds=3) if status != "failed" else None,
            "gateway_trade_no": order.get("gateway_trade_no") if status != "failed" else None,
        }
        self.payments.append(row)
        return row

    def when(self, days_back_low: float, days_back_high: float) -> datetime:
        back = self.rng.uniform(days_back_low, days_back_high)
        return (self.export_end - timedelta(days=back)).replace(microsecond=0)

    def fault(
        self, kind: str, amount: Decimal, order_id=None, batch_id=None, supplier_id=None, day=None
    ) -> None:
        self.truth.append(
            {
                "fault_id": f"F{len(self.truth) + 1:04d}",
                "kind": kind,
                "recon_table": RECON_KINDS[kind],
                "order_id": order_id,
                "batch_id": batch_id,
                "supplier_id": supplier_id,
                "amount": amount.quantize(CENT),
                "day": day,
            }
        )


def _plant_discrepancies(p: _Planter, n: int) -> None:
    card_keys = [t for t in p.templates if t["delivery_type"] == "card_key" and t["card_batch_id"]]
    for _ in range(n):
        order = p.order_like(p.pick(p.templates), p.when(2, 20), "paid")
        p.payment(order, "success", order["paid_at"] - timedelta(seconds=5))
        p.fault("paid_not_delivered", order["paid_amount"], order_id=order["order_id"])

        order = p.order_like(p.pick(p.templates), p.when(1, 30), "delivered")
        p.payment(order, "failed", order["created_at"] + timedelta(seconds=5))
        p.fault("delivered_without_payment", order["paid_amount"], order_id=order["order_id"])

        clean = p.pick(p.templates)
        paid_at = _time(clean["paid_at"])
        amount = _money(clean["paid_amount"])
        second = {
            "order_id": clean["order_id"],
            "payment_channel": clean["payment_channel"],
            "gateway_trade_no": f"D{clean['order_id'][1:]}",
            "paid_amount": amount,
        }
        p.payment(second, "success", paid_at + timedelta(seconds=int(p.rng.integers(30, 600))))
        p.fault("paid_twice", amount, order_id=clean["order_id"])

        order = p.order_like(p.pick(p.templates), p.when(1, 30), "delivered")
        gap = Decimal(int(p.rng.integers(1, 1000))) * CENT
        gap = min(gap, order["paid_amount"] - CENT) if order["paid_amount"] > CENT else CENT
        p.payment(
            order,
            "success",
            order["paid_at"] - timedelta(seconds=5),
            amount=order["paid_amount"] - gap,
        )
        p.fault("amount_mismatch", gap, order_id=order["order_id"])

        order = p.order_like(p.pick(p.templates), p.when(3, 30), "refunded")
        p.payment(order, "failed", order["created_at"] + timedelta(seconds=5))
        p.fault("refund_without_payment", order["paid_amount"], order_id=order["order_id"])

        if card_keys:
            clean = p.pick([t for t in card_keys if t["gateway_trade_no"]] or card_keys)
            created = _time(clean["created_at"]) + timedelta(seconds=int(p.rng.integers(20, 300)))
            order = p.order_like(
                clean, created, "delivered", gateway_trade_no=clean["gateway_trade_no"]
            )
            p.fault("key_delivered_twice", order["paid_amount"], order_id=order["order_id"])

            _plant_key_on_two_orders(p, p.pick(card_keys))

            clean = p.pick(card_keys)
            batch = p.pick([b for b in p.batches if b["sku_id"] != clean["sku_id"]] or p.batches)
            order = p.order_like(clean, p.when(1, 30), "delivered", card_batch_id=batch["batch_id"])
            p.payment(order, "success", order["paid_at"] - timedelta(seconds=5))
            cost = (_money(batch["unit_cost"]) * order["quantity"]).quantize(CENT)
            p.fault("batch_mismatch", cost, order_id=order["order_id"], batch_id=batch["batch_id"])


def _plant_key_on_two_orders(p: _Planter, template: dict) -> None:
    """Two paid, delivered orders sharing a key id (the fault), and two sharing a loop key
    (sold again and again by design: no fault). Neither pair names a batch."""

    def delivered(created: datetime, keys: list[str]) -> dict:
        order = p.order_like(template, created, "delivered")
        order["card_key_ids"] = ",".join(
            (keys + [p.new_id("K") for _ in range(order["quantity"])])[: order["quantity"]]
        )
        p.payment(order, "success", order["paid_at"] - timedelta(seconds=5))
        return order

    first = delivered(p.when(12, 30), [])
    second = delivered(p.when(1, 11), first["card_key_ids"].split(",")[:1])
    share = (second["paid_amount"] / second["quantity"]).quantize(CENT, ROUND_HALF_UP)
    p.fault("key_delivered_to_two_orders", share, order_id=second["order_id"])

    loop_key = f"loop:{p.new_id('L')}"
    for days_back in (p.when(12, 30), p.when(1, 11)):
        order = p.order_like(template, days_back, "delivered", quantity=1)
        order["card_key_ids"] = loop_key
        p.payment(order, "success", order["paid_at"] - timedelta(seconds=5))


def _plant_batch_faults(p: _Planter, n: int) -> None:
    """Over-drawn, cost-mismatched and never-drawn batches, each on a batch of its own."""
    by_sku: dict[str, list[dict]] = {}
    for t in p.templates:
        if t["delivery_type"] == "card_key":
            by_sku.setdefault(t["sku_id"], []).append(t)
    batches = []
    for b in p.batches:
        if b["sku_id"] in by_sku and _time(b["received_at"]) <= p.export_end - timedelta(days=3):
            keys, drawn = int(b["keys"]), int(p.drawn.get(b["batch_id"], 0))
            batches.append({**b, "keys": keys, "left": keys - drawn, "drawn": drawn})
    used: set[str] = set()

    def take(candidates: list[dict]) -> dict | None:
        candidates = [b for b in candidates if b["batch_id"] not in used]
        if not candidates:
            return None
        batch = p.pick(candidates)
        used.add(batch["batch_id"])
        return batch

    def delivered_from(batch: dict, **changes) -> dict:
        days = (p.export_end - _time(batch["received_at"])).days
        order = p.order_like(
            p.pick(by_sku[batch["sku_id"]]),
            p.when(1, min(30, days - 1)),
            "delivered",
            card_batch_id=batch["batch_id"],
            **changes,
        )
        p.payment(order, "success", order["paid_at"] - timedelta(seconds=5))
        return order

    for _ in range(n):
        batch = take([b for b in batches if b["drawn"] > 0 and 0 <= b["left"] <= 5])
        if batch is not None:
            extra = int(p.rng.integers(1, 4))
            cost = _money(batch["unit_cost"])
            order = delivered_from(batch, quantity=batch["left"] + extra, unit_cost=cost)
            p.fault("batch_overdrawn", cost * extra, order_id=order["order_id"],
                    batch_id=batch["batch_id"])  # fmt: skip

        batch = take([b for b in batches if b["left"] >= 3])
        if batch is not None:
            keys = int(p.rng.integers(1, 4))
            delta = Decimal(int(p.rng.integers(1, 200))) * CENT
            order = delivered_from(
                batch, quantity=keys, unit_cost=_money(batch["unit_cost"]) + delta
            )
            p.fault("batch_cost_mismatch", delta * keys, order_id=order["order_id"],
                    batch_id=batch["batch_id"])  # fmt: skip

        later = take([b for b in batches if b["drawn"] > 0])
        if later is not None:
            keys = int(p.rng.integers(50, 300))
            cost = _money(later["unit_cost"])
            batch = {
                "batch_id": f"B-{p.new_id('N')}",
                "sku_id": later["sku_id"],
                "supplier_id": later["supplier_id"],
                "keys": keys,
                "unit_cost": cost,
                "received_at": _time(later["received_at"]) - timedelta(days=1),
                "expires_at": None,
            }
            p.new_batches.append(batch)
            p.fault("batch_never_drawn", cost * keys, batch_id=batch["batch_id"])


def _balances_by_supplier(p: _Planter) -> dict[str, list[dict]]:
    by_supplier: dict[str, list[dict]] = {}
    for row in p.balances:
        row["as_of"] = _time(row["as_of"])
        row["balance"] = _money(row["balance"])
        by_supplier.setdefault(row["supplier_id"], []).append(row)
    return by_supplier


def _draw_planted_topups(p: _Planter, by_supplier: dict[str, list[dict]]) -> None:
    """A planted top-up that was delivered cost its supplier, like a clean one."""
    for supplier, delivered_at, cost in p.topups:
        for row in by_supplier.get(supplier, []):
            if row["as_of"] >= delivered_at:
                row["balance"] -= cost.quantize(CENT)


def _plant_balance_gaps(p: _Planter, n: int, by_supplier: dict[str, list[dict]]) -> None:
    """Days where the balance fell (no deposit), away from each other; the gap carries on."""
    candidates = []
    for supplier, rows in sorted(by_supplier.items()):
        rows.sort(key=lambda r: r["as_of"])
        for prev, row in zip(rows[-120:-1], rows[-119:], strict=True):
            if row["balance"] < prev["balance"]:
                candidates.append((supplier, row["as_of"]))
    chosen = p.rng.choice(len(candidates), size=min(n, len(candidates)), replace=False)
    for i in sorted(int(c) for c in chosen):
        supplier, day = candidates[i]
        gap = Decimal(int(p.rng.integers(5_000, 300_000))) * CENT
        # At most half the lowest balance from then on: a negative balance is quarantined,
        # and the gap with it (small exports hold small balances).
        lowest = min(r["balance"] for r in by_supplier[supplier] if r["as_of"] >= day)
        gap = min(gap, (lowest / 2).quantize(CENT))
        if gap < CENT:
            continue
        for row in by_supplier[supplier]:
            if row["as_of"] >= day:
                row["balance"] -= gap
        p.fault("supplier_balance_gap", gap, supplier_id=supplier, day=day.date())


def _plant_rings(p: _Planter, n: int, merchants: list[str]) -> None:
    topups = [t for t in p.templates if t["delivery_type"] == "direct_topup"] or p.templates
    card_keys = [t for t in p.templates if t["delivery_type"] == "card_key"] or p.templates

    def ring(kind: str, contact=None, ip=None, merchant=None, orders=0):
        p.rings.append(
            {
                "ring_id": f"R{len(p.rings) + 1:04d}",
                "kind": kind,
                "buyer_contact": contact,
                "buyer_ip": ip,
                "merchant_id": merchant,
                "orders": orders,
            }
        )

    def ip_address() -> str:
        a, b, c, d = (int(x) for x in p.rng.integers(1, 255, 4))
        return f"{a}.{b}.{c}.{d}"

    for r in range(n):
        # Top-up theft: one buyer, many top-ups within an hour.
        contact, ip = f"ring{r}v@fraud.example", ip_address()
        start, k = p.when(1, 60), int(p.rng.integers(12, 25))
        for i in range(k):
            o = p.order_like(
                p.pick(topups),
                start + timedelta(seconds=int(i * 3600 / k)),
                "delivered",
                buyer_contact=contact,
                buyer_ip=ip,
            )
            p.payment(o, "success", o["paid_at"] - timedelta(seconds=5))
        ring("buyer_velocity", contact=contact, ip=ip, orders=k)

        # Many accounts behind one IP within an hour.
        ip = ip_address()
        start, k = p.when(1, 60), int(p.rng.integers(10, 20))
        for i in range(k):
            o = p.order_like(
                p.pick(topups),
                start + timedelta(seconds=int(i * 3600 / k)),
                "delivered",
                buyer_contact=f"ring{r}-{i}@ip.example",
                buyer_ip=ip,
            )
            p.payment(o, "success", o["paid_at"] - timedelta(seconds=5))
        ring("ip_velocity", ip=ip, orders=k)

        # Card testing: a run of failed attempts within minutes, then one that succeeds.
        contact, ip = f"ring{r}c@fraud.example", ip_address()
        o = p.order_like(
            p.pick(card_keys), p.when(1, 60), "delivered", buyer_contact=contact, buyer_ip=ip
        )
        fails = int(p.rng.integers(6, 15))
        for i in range(fails):
            p.payment(o, "failed", o["created_at"] + timedelta(seconds=5 + 20 * i))
        p.payment(o, "success", o["created_at"] + timedelta(seconds=10 + 20 * fails))
        o["paid_at"] = o["created_at"] + timedelta(seconds=15 + 20 * fails)
        o["delivered_at"] = o["updated_at"] = o["paid_at"] + timedelta(seconds=10)
        ring("card_testing", contact=contact, ip=ip, orders=1)

        # Refund abuse by a buyer: most of a month's orders refunded.
        contact, ip = f"ring{r}r@fraud.example", ip_address()
        k = int(p.rng.integers(6, 12))
        for i in range(k):
            status = "refunded" if i < k - 2 else "delivered"
            o = p.order_like(
                p.pick(p.templates), p.when(2, 40), status, buyer_contact=contact, buyer_ip=ip
            )
            p.payment(
                o,
                "refunded" if status == "refunded" else "success",
                o["paid_at"] - timedelta(seconds=5),
            )
        ring("refund_abuse", contact=contact, ip=ip, orders=k)

        # Refund abuse by a merchant: a run of refunded orders over two weeks.
        merchant = merchants[r] if r < len(merchants) else None
        if merchant is not None:
            own = [t for t in p.templates if t["merchant_id"] == merchant] or p.templates
            k = int(p.rng.integers(30, 60))
            for _ in range(k):
                o = p.order_like(
                    p.pick(own),
                    p.when(3, 17),
                    "refunded",
                    merchant_id=merchant,
                    buyer_contact=f"{p.new_id('b')}@shop.example",
                    buyer_ip=ip_address(),
                )
                p.payment(o, "refunded", o["paid_at"] - timedelta(seconds=5))
            ring("merchant_refund_abuse", merchant=merchant, orders=k)

        # Unpaid orders holding card-key stock: many never-paid orders within two hours.
        contact, ip = f"ring{r}u@fraud.example", ip_address()
        start, k = p.when(1, 60), int(p.rng.integers(10, 25))
        for i in range(k):
            p.order_like(
                p.pick(card_keys),
                start + timedelta(seconds=int(i * 7200 / k)),
                "cancelled",
                buyer_contact=contact,
                buyer_ip=ip,
                quantity=int(p.rng.integers(3, 20)),
            )
        ring("unpaid_holding_stock", contact=contact, ip=ip, orders=k)


def plant_faults(
    out: Path, truth_dir: Path, fmt: str, scale: str, seed: int, gzip_csv: bool
) -> FaultSummary:
    """1. Read the clean export's recent orders, batches and balances from `out`; 2. plant the
    discrepancies and the fraud rings as new orders and payment attempts (and a balance gap);
    3. write ``orders_faults`` / ``payments_faults`` / ``supplier_balances`` and the truth."""
    p = _Planter(out, fmt, seed)
    merchant_counts: dict[str, int] = {}
    for t in p.templates:
        merchant_counts[t["merchant_id"]] = merchant_counts.get(t["merchant_id"], 0) + 1
    # Mid-sized merchants (a few orders a day): a refund run stands out against their peers.
    mid = sorted(m for m, c in merchant_counts.items() if 45 <= c <= 900)
    mid = [mid[i] for i in p.rng.permutation(len(mid))]
    _plant_discrepancies(p, PER_KIND[scale])
    _plant_batch_faults(p, PER_KIND[scale])
    _plant_rings(p, RINGS_PER_KIND[scale], mid)
    by_supplier = _balances_by_supplier(p)
    _plant_balance_gaps(p, PER_KIND[scale], by_supplier)
    _draw_planted_topups(p, by_supplier)
    files = [
        write_table(
            _table(p.orders, p.order_columns), out, "orders_faults", fmt, gzip_csv=gzip_csv
        ).name,
        write_table(_table(p.payments, p.payment_columns), out, "payments_faults", fmt).name,
    ]
    if p.new_batches:
        files.append(
            write_table(_table(p.new_batches, BATCH_COLUMNS), out, "card_batches_faults", fmt).name
        )
    for old in out.glob("supplier_balances.*"):
        old.unlink()
    files.append(
        write_table(_table(p.balances, p.balance_columns), out, "supplier_balances", fmt).name
    )
    truth_columns = [
        "fault_id",
        "kind",
        "recon_table",
        "order_id",
        "batch_id",
        "supplier_id",
        "amount",
        "day",
    ]
    schema = pa.schema(
        [
            pa.field(c, MONEY if c == "amount" else pa.date32() if c == "day" else pa.string())
            for c in truth_columns
        ]
    )
    write_table(pa.Table.from_pylist(p.truth, schema), truth_dir, "faults", "csv")
    ring_schema = pa.schema(
        [
            pa.field(c, pa.int64() if c == "orders" else pa.string())
            for c in ("ring_id", "kind", "buyer_contact", "buyer_ip", "merchant_id", "orders")
        ]
    )
    write_table(pa.Table.from_pylist(p.rings, ring_schema), truth_dir, "risk_rings", "csv")
    return FaultSummary(discrepancies=len(p.truth), rings=len(p.rings), files=files)
