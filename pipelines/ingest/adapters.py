"""Table exports of real 发卡 systems, mapped onto the contract's entities in SQL.

- ``dujiaoka`` (独角数卡, assimon/dujiaoka ``database/sql/install.sql``): a single shop, so every
  order belongs to one merchant (``--merchant-id``). ``orders`` -> orders, ``goods`` -> skus,
  ``carmis`` (card keys) -> inventory (unsold keys per goods) and card_batches (one per import;
  its loop keys, ``is_loop``, one more).
- ``acg-faka`` (异次元发卡, lizhipay/acg-faka ``kernel/Install/Install.sql``): many merchants
  (``user_id``). ``order`` -> orders (with the batch of the ``card`` sold to it), ``commodity``
  -> skus, ``card`` -> inventory and card_batches, ``user`` -> merchants (``pid`` is the agent
  hierarchy).
- ``dujiao-next`` (dujiao-next/dujiao-next ``internal/models``, GORM): a single shop. An order
  is split over two tables, so ``order_items`` (one contract order row per item) and
  ``payments`` are read with their ``orders`` rows joined in (``Partner``), the items also with
  their order's promoter commission (``affiliate_commissions``, summed per order);
  ``card_secret_batches`` -> card_batches, ``affiliate_profiles`` and ``reseller_profiles`` ->
  agents.

A card-key table is two ``SourceTable`` entries of one name: the file loads once per entity.

Each mapping reads the staged ``src`` and yields the contract's columns as text, so the same
validation runs afterwards; values the mapping itself cannot place (an unknown status code) are
extra problems with their own reason. docs/ingest.md lists every column's mapping.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from pipelines.ingest.entities import ENTITIES, Entity
from pipelines.ingest.reading import quote_ident


@dataclass(frozen=True)
class AdapterOptions:
    merchant_id: str
    # Where the per-installation secret for buyer keys lives ($CARDPULSE_HOME).
    home: Path | None = None


@dataclass(frozen=True)
class Mapped:
    """A SELECT over ``src`` giving ``_line`` and contract columns, plus extra problems."""

    select_sql: str
    problems: list[tuple[str, str, str]]

    def view_sql(self) -> str:
        """The SELECT plus one ``_problem_<i>`` column per problem (its reason, or NULL)."""
        head, tail = self.select_sql.rsplit("FROM src s", 1)
        extra = "".join(
            f", CASE WHEN {condition} THEN {reason} END AS _problem_{i}\n"
            for i, (_, condition, reason) in enumerate(self.problems)
        )
        return f"{head.rstrip()}{extra} FROM src s{tail}"

    def staged_problems(self) -> list[tuple[str, str, str]]:
        """The problems as the validation step sees them (on the view's columns)."""
        return [
            (column, f"r._problem_{i} IS NOT NULL", f"r._problem_{i}")
            for i, (column, _, _) in enumerate(self.problems)
        ]


@dataclass(frozen=True)
class Partner:
    """The table joined in: ``key`` of this table equals ``partner_key`` of ``table``. Its
    columns appear in ``src`` as ``<table>.<column>``; ``required`` of them must exist. An
    ``optional`` partner (a lookup such as payment gateways) is joined when its file is
    there; without it the mapping falls back to ids."""

    table: str
    key: str
    partner_key: str
    required: tuple[str, ...] = ()
    optional: bool = False
    # A column of this table naming the row that carries the partner's key instead of ``key``,
    # when it is set (a dujiao-next child order's ``parent_id``: the promoter's commission is
    # booked on the parent order).
    key_first: str | None = None
    # The partner's rows collapsed to one per ``partner_key``: a SELECT over ``src s`` giving
    # ``partner_key`` and the columns joined in (several commission rows of one order summed).
    # Default: the last row per key.
    collapse: Callable[[list[str]], str] | None = None
    # Columns gathered over every partner row of a key, comma-separated in file order (the
    # ids of the card keys sold to an order), instead of the last row's value.
    lists: tuple[str, ...] = ()


@dataclass(frozen=True)
class SourceTable:
    """One kind of input file: a source system's table and the entity it feeds."""

    name: str
    entity: str
    mapping: Callable[[list[str], AdapterOptions], Mapped] | None = None
    source_columns: tuple[str, ...] = ()
    # Inventory from card keys: one input row per key, summed per natural key.
    aggregate_sums: tuple[str, ...] = field(default=())
    # The only source columns kept after reading (everything else, card secrets included, is
    # dropped before anything is checked or quarantined), and among them the personal ones
    # (e-mail / phone / QQ / IP), replaced by a keyed hash. Empty: a canonical file.
    kept: tuple[str, ...] = field(default=())
    personal: tuple[str, ...] = field(default=())
    # The table's columns in install-SQL order, with their MySQL types: how a headerless
    # export (``mysqldump --tab`` without its .sql) is read. Alternatives for other versions.
    layouts: tuple[tuple[tuple[str, str], ...], ...] = field(default=())
    # Another table of the same export whose rows are joined in (dujiao-next order_items and
    # payments need their order's row); a table that is only ever read that way.
    partners: tuple[Partner, ...] = ()
    partner_only: bool = False

    def required_columns(self, entity: Entity) -> tuple[str, ...]:
        return self.source_columns if self.mapping else entity.required_columns


def canonical_table(entity: str) -> SourceTable:
    return SourceTable(entity, entity)


def _lit(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


# How exports spell NULL: empty (Navicat, DBeaver), ``NULL`` (phpMyAdmin), ``\\N`` (mysqldump).
NULL_WORDS = ("", "NULL", "\\N")


class _Columns:
    """SQL for source columns as trimmed text; a column the export lacks reads as NULL, and so
    does a value spelled as one of ``NULL_WORDS``."""

    def __init__(self, names: list[str]):
        self.names = set(names)

    def __call__(self, name: str) -> str:
        if name not in self.names:
            return "NULL::VARCHAR"
        value = f"trim(CAST(s.{quote_ident(name)} AS VARCHAR))"
        words = ", ".join(_lit(w) for w in NULL_WORDS)
        return f"CASE WHEN {value} NOT IN ({words}) THEN {value} END"

    def decimal(self, name: str) -> str:
        return f"TRY_CAST({self(name)} AS DECIMAL(18, 2))"

    def integer(self, name: str) -> str:
        return f"TRY_CAST({self(name)} AS INTEGER)"

    def timestamp(self, name: str) -> str:
        return f"TRY_CAST({self(name)} AS TIMESTAMP)"


def _not_number(col: _Columns, name: str, cast: str) -> tuple[str, str, str]:
    return (
        name,
        f"{col(name)} IS NOT NULL AND {cast} IS NULL",
        f"{_lit(name + ' ')} || '''' || left({col(name)}, 60) || '''' || ' is not a number'",
    )


def _unknown_code(
    col: _Columns, target: str, name: str, codes: tuple[str, ...], system: str
) -> tuple[str, str, str]:
    listed = ", ".join(_lit(c) for c in codes)
    return (
        target,
        f"{col(name)} IS NULL OR {col(name)} NOT IN ({listed})",
        f"{_lit(f'{system} {name} ')} || coalesce('''' || {col(name)} || '''', 'empty') || "
        f"{_lit(' is not one of ' + ', '.join(codes))}",
    )


def _set_code(
    col: _Columns, target: str, name: str, codes: tuple[str, ...], system: str
) -> list[tuple[str, str, str]]:
    """A column of later versions (empty or absent: its default): a value set but not one of
    ``codes`` is a problem; no problem when the export lacks the column."""
    if name not in col.names:
        return []
    listed = ", ".join(_lit(c) for c in codes)
    return [
        (
            target,
            f"{col(name)} NOT IN ({listed})",
            f"{_lit(f'{system} {name} ')} || '''' || {col(name)} || '''' || "
            f"{_lit(' is not one of ' + ', '.join(codes))}",
        )
    ]


def _soft_deleted(col: _Columns) -> tuple[str, str, str]:
    return (
        "deleted_at",
        f"{col('deleted_at')} IS NOT NULL",
        "'deleted in the source system (deleted_at is set)'",
    )


def _per_unit(total: str, quantity: str) -> str:
    """Per-unit money from an order total, rounded to cents, as text.

    quantity x this can differ from the total by up to half a fen per unit (3 units paid 64.00:
    21.33, 63.99 booked); the exact total is also given as ``paid_amount``, from which
    ``fct_orders`` takes revenue and margin.
    """
    return f"CAST(round({total} / nullif({quantity}, 0), 2) AS VARCHAR)"


def _id_code(name: str, value: str, looked_up: str | None = None) -> str:
    """A source system's id of a payment method or coupon as text; 0 is none. ``looked_up``:
    its name from a lookup table read with the file (``pays.pay_check``), else ``pay_id:2``."""
    code = f"'{name}:' || {value}"
    if looked_up is not None:
        code = f"coalesce({looked_up}, {code})"
    return f"CASE WHEN coalesce({value}, '0') NOT IN ('0', '') THEN {code} END"


def _discount(col: _Columns, *names: str) -> str:
    """The sum of discount columns, as text; NULL when the export has none of them."""
    present = [col.decimal(n) for n in names if n in col.names]
    if not present:
        return "NULL::VARCHAR"
    total = " + ".join(f"coalesce({p}, 0)" for p in present)
    return f"CAST(CAST({total} AS DECIMAL(18, 2)) AS VARCHAR)"


def _pseudonym(prefix: str, keyed: str) -> str:
    """A stable buyer key from a personal column already replaced by its keyed hash (HMAC-SHA256
    with the installation's secret, ``secrets.py``): the prefix and 16 hex digits of it."""
    return f"CASE WHEN {keyed} IS NOT NULL THEN '{prefix}:' || left({keyed}, 16) END"


def _batch_id(col: _Columns, prefix: str, sku: str, imported: str, *more: str) -> str:
    """``<prefix><goods>[/<more>]@<import time to the second>`` (see ``_import_batches``)."""
    stamp = (
        f"coalesce(strftime({col.timestamp(imported)}, '%Y-%m-%d %H:%M:%S'), {col(imported)}, '')"
    )
    parts = [f"{_lit(prefix)} || coalesce({col(sku)}, '')"]
    parts += [f"coalesce('/' || {col(name)}, '')" for name in more]
    return " || ".join(parts) + f" || '@' || {stamp}"


def _import_batches(
    col: _Columns,
    prefix: str,
    sku: str,
    imported: str,
    supplier: str,
    *more: str,
    loop: str | None = None,
) -> str:
    """Card-key batches from a card-key table that records none: the keys of one import (the
    same goods, imported in the same second; ``more`` columns such as acg-faka's ``race``
    split it further) are one batch, ``<prefix><goods>[/<more>]@<import time>``. Every key row
    maps to its batch's row (``keys`` = the batch's key rows in the export, sold ones
    included), so a batch's first row loads it and its other rows repeat it (duplicates). A
    row without goods or time gets no usable id and is quarantined for that column. ``loop``
    (SQL: ``'/loop'`` for a loop key, sold again and again, ``''`` for others) puts an
    import's loop keys in a batch of their own, ``<prefix><goods>[/<more>]/loop@<import
    time>``, with ``is_loop`` true (any other text keeps a quarantined row out of both)."""
    batch = _batch_id(col, prefix, sku, imported, *more)
    is_loop = "false"
    if loop:
        is_loop = f"({loop} = '/loop')"
        head, stamp = batch.rsplit(" || '@' || ", 1)
        batch = f"{head} || {loop} || '@' || {stamp}"
    return f"""
        SELECT s._line,
            {batch} AS batch_id,
            {col(sku)} AS sku_id,
            {supplier} AS supplier_id,
            CAST(count(*) OVER (PARTITION BY {batch}) AS VARCHAR) AS keys,
            NULL::VARCHAR AS unit_cost,
            {col(imported)} AS received_at,
            NULL::VARCHAR AS expires_at,
            CAST({is_loop} AS VARCHAR) AS is_loop
        FROM src s"""


# ---- dujiaoka (独角数卡) -------------------------------------------------------------------

DUJIAOKA_ORDER_STATUS = {
    "1": "pending_payment",  # 待支付
    "2": "paid",  # 待处理: paid, waiting to be processed
    "3": "paid",  # 处理中
    "4": "delivered",  # 已完成
    "5": "failed",  # 处理失败
    "6": "failed",  # 异常: paid but could not be fulfilled
    "-1": "cancelled",  # 过期: never paid
}


def _dujiaoka_orders(names: list[str], options: AdapterOptions) -> Mapped:
    col = _Columns(names)
    status = " ".join(f"WHEN {_lit(k)} THEN {_lit(v)}" for k, v in DUJIAOKA_ORDER_STATUS.items())
    quantity = col.integer("buy_amount")
    select = f"""
        SELECT s._line,
            {col("order_sn")} AS order_id,
            {col("created_at")} AS created_at,
            coalesce({col("updated_at")}, {col("created_at")}) AS updated_at,
            NULL::VARCHAR AS paid_at,
            CASE WHEN {col("status")} = '4'
                 THEN coalesce({col("updated_at")}, {col("created_at")}) END AS delivered_at,
            {_lit(options.merchant_id)} AS merchant_id,
            {col("goods_id")} AS sku_id,
            {col("buy_amount")} AS quantity,
            {_per_unit(col.decimal("actual_price"), quantity)} AS unit_price,
            NULL::VARCHAR AS unit_cost,
            {col("goods_price")} AS list_price,
            CASE {col("status")} {status} END AS status,
            NULL::VARCHAR AS region_code,
            'web' AS channel,
            NULL::VARCHAR AS supplier_id,
            {_pseudonym("email", col("email"))} AS buyer_id,
            coalesce({col("pays.pay_name")},
                     CASE WHEN {col("pay_id")} IS NOT NULL THEN 'pay_id:' || {col("pay_id")} END)
                AS payment_method,
            {col("actual_price")} AS paid_amount,
            {_id_code("pay_id", col("pay_id"), col("pays.pay_check"))} AS payment_channel,
            NULL::VARCHAR AS payment_fee,
            {_id_code("coupon_id", col("coupon_id"), col("coupons.coupon"))} AS coupon_code,
            {_discount(col, "coupon_discount_price", "wholesale_discount_price")}
                AS discount_amount,
            NULL::VARCHAR AS agent_id,
            NULL::VARCHAR AS agent_commission,
            CASE {col("type")} WHEN '1' THEN 'auto' WHEN '2' THEN 'manual' END AS delivery_mode,
            {col("trade_no")} AS gateway_trade_no,
            NULL::VARCHAR AS card_batch_id,
            {col("email")} AS buyer_key,
            {col("buy_ip")} AS buyer_ip_key
        FROM src s"""
    problems = [
        _soft_deleted(col),
        _unknown_code(col, "status", "status", tuple(DUJIAOKA_ORDER_STATUS), "dujiaoka"),
        _not_number(col, "actual_price", col.decimal("actual_price")),
    ]
    return Mapped(select, problems)


def _dujiaoka_goods(names: list[str], options: AdapterOptions) -> Mapped:
    col = _Columns(names)
    select = f"""
        SELECT s._line,
            {col("id")} AS sku_id,
            {col("gd_name")} AS name,
            coalesce('group:' || {col("group_id")}, 'other') AS category,
            NULL::VARCHAR AS brand,
            CASE WHEN {col.decimal("retail_price")} > 0 THEN {col("retail_price")} END
                AS face_value,
            CASE {col("type")} WHEN '1' THEN 'card_key' WHEN '2' THEN 'direct_topup' END
                AS delivery_type,
            NULL::VARCHAR AS supplier_id,
            NULL::VARCHAR AS shelf_life_days,
            CASE WHEN coalesce({col("is_open")}, '1') = '1' AND {col("deleted_at")} IS NULL
                 THEN 'true' ELSE 'false' END AS active
        FROM src s"""
    problems = [_unknown_code(col, "delivery_type", "type", ("1", "2"), "dujiaoka")]
    return Mapped(select, problems)


def _dujiaoka_carmis(names: list[str], options: AdapterOptions) -> Mapped:
    col = _Columns(names)
    changed = f"coalesce({col.timestamp('updated_at')}, {col.timestamp('created_at')})"
    select = f"""
        SELECT s._line,
            CAST(max({changed}) OVER () AS VARCHAR) AS as_of,
            {col("goods_id")} AS sku_id,
            NULL::VARCHAR AS supplier_id,
            CASE WHEN {col("status")} = '1' AND {col("deleted_at")} IS NULL THEN '1' ELSE '0' END
                AS on_hand,
            '0' AS on_order,
            '0' AS expiring_7d
        FROM src s"""
    problems = [_unknown_code(col, "on_hand", "status", ("1", "2"), "dujiaoka carmis")]
    return Mapped(select, problems)


def _dujiaoka_carmis_batches(names: list[str], options: AdapterOptions) -> Mapped:
    """dujiaoka's import (ImportCarmis) inserts one row per key, all stamped ``created_at``
    with the time of the import: goods + that second is the batch. A loop key (``is_loop`` 1,
    循环卡密, in versions that have the column) is never marked sold (``CarmisService::
    soldByIDS`` skips it): its import's loop keys are a batch of their own, flagged loop."""
    col = _Columns(names)
    loop = None
    if "is_loop" in names:
        flag = col("is_loop")
        loop = f"CASE coalesce({flag}, '0') WHEN '0' THEN '' WHEN '1' THEN '/loop' ELSE '/?' END"
    select = _import_batches(col, "carmis:", "goods_id", "created_at", "NULL::VARCHAR", loop=loop)
    problems = _set_code(col, "is_loop", "is_loop", ("0", "1"), "dujiaoka carmis")
    return Mapped(select, problems)


# ---- acg-faka (异次元发卡) ------------------------------------------------------------------


def _acg_seller(col: _Columns) -> str:
    """The merchant that sold an acg-faka order: the sub-site (分站) it was bought on,
    ``substation_user_id``, when set; else ``user_id``, the goods' owner (0 = the main site),
    who sells it on the main site (versions before sub-sites record only that)."""
    substation = col("substation_user_id")
    return (
        f"CASE WHEN coalesce({col.integer('substation_user_id')}, 0) > 0 THEN {substation} "
        f"ELSE coalesce({col('user_id')}, '0') END"
    )


def _acg_pay_code(col: _Columns) -> str:
    """acg-faka ``pay.code``: the gateway's code (alipay, wxpay...); ``#system`` is 余额."""
    code = col("pay.code")
    return f"CASE WHEN {code} = '#system' THEN 'balance' ELSE {code} END"


def _acg_orders(names: list[str], options: AdapterOptions) -> Mapped:
    col = _Columns(names)
    quantity = col.integer("card_num")
    # acg-faka stamps no time on delivery: a delivered version counts one second after
    # payment, so a re-export after delivery replaces the paid-only version.
    changed = f"coalesce({col.timestamp('pay_time')}, {col.timestamp('create_time')})"
    # The batch of a key sold to this order (``card.order_id``; with several, the last in the
    # card file), when the card table is read with it.
    card_batch = _batch_id(col, "card:", "card.commodity_id", "card.create_time", "card.race")
    select = f"""
        SELECT s._line,
            {col("trade_no")} AS order_id,
            {col("create_time")} AS created_at,
            CASE WHEN {col("status")} = '1' AND {col("delivery_status")} = '1'
                 THEN strftime({changed} + INTERVAL 1 SECOND, '%Y-%m-%d %H:%M:%S')
                 ELSE CAST({changed} AS VARCHAR) END AS updated_at,
            {col("pay_time")} AS paid_at,
            NULL::VARCHAR AS delivered_at,
            {_acg_seller(col)} AS merchant_id,
            {col("commodity_id")} AS sku_id,
            {col("card_num")} AS quantity,
            {_per_unit(col.decimal("amount"), quantity)} AS unit_price,
            {_per_unit(col.decimal("rent"), quantity)} AS unit_cost,
            NULL::VARCHAR AS list_price,
            CASE WHEN {col("status")} = '0' THEN 'pending_payment'
                 WHEN {col("status")} = '1' AND {col("delivery_status")} = '1' THEN 'delivered'
                 WHEN {col("status")} = '1' THEN 'paid' END AS status,
            NULL::VARCHAR AS region_code,
            'web' AS channel,
            NULL::VARCHAR AS supplier_id,
            CASE WHEN coalesce({col.integer("owner")}, 0) > 0 THEN 'user:' || {col("owner")}
                 ELSE {_pseudonym("contact", col("contact"))} END AS buyer_id,
            coalesce({col("pay.name")},
                     CASE WHEN {col("pay_id")} IS NOT NULL THEN 'pay_id:' || {col("pay_id")} END)
                AS payment_method,
            {col("amount")} AS paid_amount,
            {_id_code("pay_id", col("pay_id"), _acg_pay_code(col))} AS payment_channel,
            {col("pay_cost")} AS payment_fee,
            {_id_code("coupon_id", col("coupon_id"), col("coupon.code"))} AS coupon_code,
            NULL::VARCHAR AS discount_amount,
            CASE WHEN coalesce({col.integer("from")}, 0) > 0 THEN {col("from")} END AS agent_id,
            CASE WHEN coalesce({col.integer("from")}, 0) > 0
                 THEN coalesce({col("divide_amount")}, {col("rebate")}) END AS agent_commission,
            NULL::VARCHAR AS delivery_mode,
            NULL::VARCHAR AS gateway_trade_no,
            CASE WHEN {col("card.create_time")} IS NOT NULL THEN {card_batch} END
                AS card_batch_id,
            {col("contact")} AS buyer_key,
            {col("create_ip")} AS buyer_ip_key,
            CASE WHEN {col("status")} = '1' AND {col("delivery_status")} = '1'
                 THEN {col("card.id")} END AS card_key_ids
        FROM src s"""
    problems = [
        _unknown_code(col, "status", "status", ("0", "1"), "acg-faka"),
        _not_number(col, "amount", col.decimal("amount")),
        _not_number(col, "rent", col.decimal("rent")),
    ]
    return Mapped(select, problems)


def _acg_commodity(names: list[str], options: AdapterOptions) -> Mapped:
    col = _Columns(names)
    select = f"""
        SELECT s._line,
            {col("id")} AS sku_id,
            {col("name")} AS name,
            coalesce('category:' || {col("category_id")}, 'other') AS category,
            NULL::VARCHAR AS brand,
            {col("price")} AS face_value,
            CASE coalesce({col("delivery_way")}, '0') WHEN '0' THEN 'card_key'
                 WHEN '1' THEN 'direct_topup' END AS delivery_type,
            NULL::VARCHAR AS supplier_id,
            NULL::VARCHAR AS shelf_life_days,
            CASE WHEN coalesce({col("status")}, '1') = '1' THEN 'true' ELSE 'false' END AS active
        FROM src s"""
    problems = _set_code(col, "delivery_type", "delivery_way", ("0", "1"), "acg-faka")
    return Mapped(select, problems)


def _acg_card(names: list[str], options: AdapterOptions) -> Mapped:
    col = _Columns(names)
    changed = f"greatest({col.timestamp('create_time')}, {col.timestamp('purchase_time')})"
    select = f"""
        SELECT s._line,
            CAST(max({changed}) OVER () AS VARCHAR) AS as_of,
            {col("commodity_id")} AS sku_id,
            NULL::VARCHAR AS supplier_id,
            CASE WHEN {col("status")} = '0' THEN '1' ELSE '0' END AS on_hand,
            '0' AS on_order,
            '0' AS expiring_7d
        FROM src s"""
    problems = [_unknown_code(col, "on_hand", "status", ("0", "1", "2"), "acg-faka card")]
    return Mapped(select, problems)


def _acg_card_batches(names: list[str], options: AdapterOptions) -> Mapped:
    """acg-faka's import (Admin/Api/Card.php ``save``) stamps every key of one import with one
    ``create_time``; the keys' ``race`` (商品种类) is part of the batch. ``owner`` > 0 is the
    member (供货商) who supplied the keys."""
    col = _Columns(names)
    owner = f"CASE WHEN coalesce({col.integer('owner')}, 0) > 0 THEN {col('owner')} END"
    select = _import_batches(col, "card:", "commodity_id", "create_time", owner, "race")
    return Mapped(select, [])


def _acg_user(names: list[str], options: AdapterOptions) -> Mapped:
    col = _Columns(names)
    select = f"""
        SELECT s._line,
            {col("id")} AS merchant_id,
            {col("username")} AS name,
            CASE WHEN {col("business_level")} IS NOT NULL
                 THEN coalesce({col("business_level.name")},
                               'business_level:' || {col("business_level")}) END AS tier,
            nullif({col("pid")}, '0') AS parent_merchant_id,
            NULL::VARCHAR AS region_code,
            {col("create_time")} AS joined_at
        FROM src s"""
    return Mapped(select, [])


# ---- dujiao-next ---------------------------------------------------------------------------

# dujiao-next/dujiao-next internal/constants: order statuses (refunded in later versions).
DUJIAO_NEXT_ORDER_STATUS = {
    "pending_payment": "pending_payment",
    "paid": "paid",
    "fulfilling": "paid",
    "partially_delivered": "paid",
    "delivered": "delivered",
    "completed": "delivered",
    "canceled": "cancelled",
    "refunded": "refunded",
}
DUJIAO_NEXT_PAYMENT_STATUS = {"success": "success", "failed": "failed", "expired": "failed"}
_DN_ORDER = "orders."
_DN_COMMISSION = "affiliate_commissions."


def _dn_sku(col: _Columns) -> str:
    """A dujiao-next SKU: its ``sku_id`` (product_skus) when set, else the product (older
    versions and single-SKU products store ``sku_id`` 0)."""
    return (
        f"CASE WHEN coalesce({col.integer('sku_id')}, 0) > 0 THEN 'sku:' || {col('sku_id')} "
        f"ELSE 'product:' || {col('product_id')} END"
    )


def _either(col: _Columns, *names: str) -> str:
    """The first of several spellings of a money column (GORM's column name, the JSON name an
    admin export uses), as a decimal; 0 when the export has none."""
    return "coalesce(" + ", ".join(col.decimal(n) for n in names) + ", 0)"


def _no_order_row(col: _Columns, key: str) -> tuple[str, str, str]:
    return (
        "order_id",
        f"{col(_DN_ORDER + 'id')} IS NULL",
        f"'{key} ' || coalesce('''' || {col(key)} || '''', 'empty') || "
        "' has no row in the orders table read with it'",
    )


def _dn_not_cny(col: _Columns) -> tuple[str, str, str]:
    currency = col(_DN_ORDER + "currency")
    return (
        "paid_amount",
        f"{currency} IS NOT NULL AND upper({currency}) NOT IN ('CNY', 'RMB')",
        f"'order currency ''' || {currency} || ''' is not CNY'",
    )


def _dujiao_next_items(names: list[str], options: AdapterOptions) -> Mapped:
    """One contract order row per ``order_items`` row, its order's fields joined in."""
    col = _Columns(names)
    o = _Prefixed(col, _DN_ORDER)
    c = _Prefixed(col, _DN_COMMISSION)
    commissions_read = "true" if _DN_COMMISSION + "order_id" in col.names else "false"
    status = " ".join(f"WHEN {_lit(k)} THEN {_lit(v)}" for k, v in DUJIAO_NEXT_ORDER_STATUS.items())
    quantity = col.integer("quantity")
    line_total = f"coalesce({col.decimal('total_price')}, {col.decimal('unit_price')} * {quantity})"
    coupon = _either(col, "coupon_discount", "coupon_discount_amount")
    paid = f"CAST({line_total} - {coupon} AS DECIMAL(18, 2))"
    discounts = " + ".join(
        [coupon]
        + [
            _either(col, short, short + "_amount")
            for short in ("member_discount", "promotion_discount", "wholesale_discount")
        ]
    )
    per_order = f"PARTITION BY {col('order_id')}"
    first_item = f"{col.integer('id')} = min({col.integer('id')}) OVER ({per_order})"
    resold = f"coalesce(TRY_CAST({o('reseller_id')} AS INTEGER), 0) > 0"
    affiliated = f"coalesce(TRY_CAST({o('affiliate_profile_id')} AS INTEGER), 0) > 0"
    promoter = f"coalesce(TRY_CAST({c('affiliate_profile_id')} AS INTEGER), 0) > 0"
    changed = f"coalesce({o('updated_at')}, {o('created_at')})"
    select = f"""
        SELECT s._line,
            CASE WHEN count(*) OVER ({per_order}) = 1 THEN {o("order_no")}
                 ELSE {o("order_no")} || '/' || {col("id")} END AS order_id,
            {o("created_at")} AS created_at,
            {changed} AS updated_at,
            {o("paid_at")} AS paid_at,
            CASE WHEN {o("status")} IN ('delivered', 'completed') THEN {changed} END
                AS delivered_at,
            {_lit(options.merchant_id)} AS merchant_id,
            {_dn_sku(col)} AS sku_id,
            {col("quantity")} AS quantity,
            {_per_unit(paid, quantity)} AS unit_price,
            CASE WHEN {col.decimal("cost_price")} > 0 THEN {col("cost_price")} END AS unit_cost,
            coalesce({col("original_unit_price")}, {col("unit_price")}) AS list_price,
            CASE {o("status")} {status} END AS status,
            NULL::VARCHAR AS region_code,
            'web' AS channel,
            NULL::VARCHAR AS supplier_id,
            CASE WHEN coalesce(TRY_CAST({o("user_id")} AS INTEGER), 0) > 0
                 THEN 'user:' || {o("user_id")}
                 ELSE {_pseudonym("email", o("guest_email"))} END AS buyer_id,
            NULL::VARCHAR AS payment_method,
            CAST({paid} AS VARCHAR) AS paid_amount,
            NULL::VARCHAR AS payment_channel,
            NULL::VARCHAR AS payment_fee,
            {_id_code("coupon_id", o("coupon_id"))} AS coupon_code,
            CAST(CAST({discounts} AS DECIMAL(18, 2)) AS VARCHAR) AS discount_amount,
            CASE WHEN {resold} THEN {o("reseller_id")}
                 WHEN {affiliated} THEN 'affiliate:' || {o("affiliate_profile_id")}
                 WHEN {promoter} THEN 'affiliate:' || {c("affiliate_profile_id")} END
                AS agent_id,
            CASE WHEN {resold} THEN CASE WHEN {first_item}
                 THEN coalesce({o("reseller_profit_amount")}, '0') ELSE '0' END
                 WHEN {commissions_read} AND ({affiliated} OR {promoter})
                 THEN CAST({_dn_commission_share(col, paid)} AS VARCHAR) END
                AS agent_commission,
            {col("fulfillment_type")} AS delivery_mode,
            NULL::VARCHAR AS gateway_trade_no,
            NULL::VARCHAR AS card_batch_id,
            {o("guest_email")} AS buyer_key,
            {o("client_ip")} AS buyer_ip_key,
            CASE WHEN count(*) OVER ({per_order}) = 1
                 AND {o("status")} IN ('delivered', 'completed')
                 THEN {col("card_secrets.id")} END AS card_key_ids
        FROM src s"""
    deleted = f"coalesce({col('deleted_at')}, {o('deleted_at')})"
    problems = [
        _no_order_row(col, "order_id"),
        (
            "deleted_at",
            f"{deleted} IS NOT NULL",
            "'deleted in the source system (deleted_at is set)'",
        ),
        _unknown_code(o, "status", "status", tuple(DUJIAO_NEXT_ORDER_STATUS), "dujiao-next order"),
        _unknown_code(
            col,
            "delivery_mode",
            "fulfillment_type",
            ("auto", "manual", "upstream"),
            "dujiao-next",
        ),
        _not_number(col, "total_price", col.decimal("total_price")),
        _not_number(col, "unit_price", col.decimal("unit_price")),
        _dn_not_cny(col),
        (
            "agent_commission",
            f"{c('bad_amount')} IS NOT NULL",
            f"'affiliate_commissions commission_amount ''' || {c('bad_amount')} || "
            "''' is not a number'",
        ),
        (
            "agent_commission",
            f"{c('bad_status')} IS NOT NULL",
            f"'dujiao-next affiliate commission status ''' || {c('bad_status')} || ''' is not "
            f"one of {', '.join(DUJIAO_NEXT_COMMISSION_STATUS)}'",
        ),
    ]
    return Mapped(select, problems)


def _dn_commission_share(col: _Columns, paid: str) -> str:
    """An item row's part of its order's promoter commission (``affiliate_commissions``, summed
    per order by ``_dn_commissions_per_order``), 0 when the order has none. The commission is
    booked on the order the buyer paid: a child order's parent (``parent_id``), else the order
    itself. Its items share it by what was paid for each, cumulatively rounded to the fen, so
    the parts add up to the commission exactly; with nothing paid, the first item takes it."""
    booked_on = (
        f"CASE WHEN coalesce(TRY_CAST({col(_DN_ORDER + 'parent_id')} AS INTEGER), 0) > 0 "
        f"THEN {col(_DN_ORDER + 'parent_id')} ELSE {col('order_id')} END"
    )
    per_booking = f"PARTITION BY {booked_on}"
    item = col.integer("id")
    amount = f"coalesce({paid}, 0)"
    total = f"sum({amount}) OVER ({per_booking})"
    upto = f"sum({amount}) OVER ({per_booking} ORDER BY {item} ROWS UNBOUNDED PRECEDING)"
    commission = f"coalesce({col.decimal(_DN_COMMISSION + 'commission_amount')}, 0)"
    return f"""CAST(CASE
        WHEN {total} > 0 THEN round({commission} * {upto} / {total}, 2)
            - round({commission} * ({upto} - {amount}) / {total}, 2)
        WHEN {item} = min({item}) OVER ({per_booking}) THEN {commission}
        ELSE 0 END AS DECIMAL(18, 2))"""


# dujiao-next internal/constants (推广返利佣金状态): rejected (the order was cancelled or
# refunded) is no commission; the others are owed or already paid out.
DUJIAO_NEXT_COMMISSION_OWED = ("pending_confirm", "available", "withdrawn")
DUJIAO_NEXT_COMMISSION_STATUS = (*DUJIAO_NEXT_COMMISSION_OWED, "rejected")


def _dn_commissions_per_order(names: list[str]) -> str:
    """``affiliate_commissions`` collapsed to one row per order: the owed commission summed
    (a commission split in two by a partial withdrawal is two rows of one order), the promoter,
    and the first value that cannot be read (it quarantines the order's items). Soft-deleted
    rows are left out."""
    col = _Columns(names)
    amount = col.decimal("commission_amount")
    owed = f"{col('status')} IN ({', '.join(_lit(v) for v in DUJIAO_NEXT_COMMISSION_OWED)})"
    known = ", ".join(_lit(v) for v in DUJIAO_NEXT_COMMISSION_STATUS)
    return f"""
        SELECT {col("order_id")} AS order_id,
            CAST(CAST(coalesce(sum(CASE WHEN {owed} THEN {amount} END), 0) AS DECIMAL(18, 2))
                AS VARCHAR) AS commission_amount,
            CAST(max(CASE WHEN {owed} THEN {col.integer("affiliate_profile_id")} END)
                AS VARCHAR) AS affiliate_profile_id,
            min(CASE WHEN {col("commission_amount")} IS NOT NULL AND {amount} IS NULL
                THEN {col("commission_amount")} END) AS bad_amount,
            min(CASE WHEN {col("status")} IS NULL OR {col("status")} NOT IN ({known})
                THEN coalesce({col("status")}, 'empty') END) AS bad_status
        FROM src s
        WHERE {col("order_id")} IS NOT NULL AND {col("deleted_at")} IS NULL
        GROUP BY ALL"""


class _Prefixed:
    """A ``_Columns`` seen through a prefix: ``status`` reads ``orders.status``."""

    def __init__(self, col: _Columns, prefix: str):
        self.col = col
        self.prefix = prefix

    def __call__(self, name: str) -> str:
        return self.col(self.prefix + name)


def _dujiao_next_payments(names: list[str], options: AdapterOptions) -> Mapped:
    """``payments`` name their order by ``orders.id``; the contract by its ``order_no``."""
    col = _Columns(names)
    status = " ".join(
        f"WHEN {_lit(k)} THEN {_lit(v)}" for k, v in DUJIAO_NEXT_PAYMENT_STATUS.items()
    )
    select = f"""
        SELECT s._line,
            {col("id")} AS payment_id,
            {col(_DN_ORDER + "order_no")} AS order_id,
            coalesce({col("channel_type")}, {col("provider_type")}) AS channel,
            {col("amount")} AS amount,
            {col("fee_amount")} AS fee,
            CASE {col("status")} {status} END AS status,
            {col("created_at")} AS created_at,
            coalesce({col("callback_at")}, {col("paid_at")}) AS callback_at,
            coalesce({col("gateway_order_no")}, {col("provider_ref")}) AS gateway_trade_no
        FROM src s"""
    unfinished = (
        "status",
        f"{col('status')} IN ('initiated', 'pending')",
        f"'payment not finished yet (dujiao-next status ''' || {col('status')} || ''')'",
    )
    problems = [
        _no_order_row(col, "order_id"),
        _soft_deleted(col),
        unfinished,
        _unknown_code(
            col,
            "status",
            "status",
            ("initiated", "pending", *DUJIAO_NEXT_PAYMENT_STATUS),
            "dujiao-next payment",
        ),
        _not_number(col, "amount", col.decimal("amount")),
        _not_number(col, "fee_amount", col.decimal("fee_amount")),
    ]
    return Mapped(select, problems)


def _dujiao_next_batches(names: list[str], options: AdapterOptions) -> Mapped:
    col = _Columns(names)
    select = f"""
        SELECT s._line,
            coalesce({col("batch_no")}, 'batch:' || {col("id")}) AS batch_id,
            {_dn_sku(col)} AS sku_id,
            NULL::VARCHAR AS supplier_id,
            {col("total_count")} AS keys,
            NULL::VARCHAR AS unit_cost,
            {col("created_at")} AS received_at,
            NULL::VARCHAR AS expires_at,
            'false' AS is_loop
        FROM src s"""
    return Mapped(select, [_soft_deleted(col)])


def _dujiao_next_affiliates(names: list[str], options: AdapterOptions) -> Mapped:
    """``affiliate_profiles`` (推广返利用户档案, one per promoting user) -> agents of the shop."""
    col = _Columns(names)
    select = f"""
        SELECT s._line,
            'affiliate:' || {col("id")} AS agent_id,
            {_lit(options.merchant_id)} AS merchant_id,
            NULL::VARCHAR AS parent_agent_id,
            NULL::VARCHAR AS commission_pct,
            {col("created_at")} AS joined_at
        FROM src s"""
    return Mapped(select, [_soft_deleted(col)])


def _dujiao_next_resellers(names: list[str], options: AdapterOptions) -> Mapped:
    """``reseller_profiles`` (分销商资料, GORM ``ResellerProfile``) -> agents of the shop. An
    order sold on a reseller's domain names it by ``orders.reseller_id`` (the profile's id).
    Resellers sit directly under the shop (no parent). The commission rule is the reseller's
    share of what the buyer pays under its default markup over the shop's price:
    ``default_markup_percent`` m gives m / (100 + m) of the revenue."""
    col = _Columns(names)
    markup = col.decimal("default_markup_percent")
    select = f"""
        SELECT s._line,
            {col("id")} AS agent_id,
            {_lit(options.merchant_id)} AS merchant_id,
            NULL::VARCHAR AS parent_agent_id,
            CASE WHEN {markup} >= 0
                 THEN CAST(round(100 * {markup} / (100 + {markup}), 2) AS VARCHAR) END
                AS commission_pct,
            {col("created_at")} AS joined_at
        FROM src s"""
    negative = (
        "commission_pct",
        f"{markup} < 0",
        f"'default_markup_percent ' || {col('default_markup_percent')} || ' is negative'",
    )
    problems = [_soft_deleted(col), _not_number(col, "default_markup_percent", markup), negative]
    return Mapped(select, problems)


_INVENTORY_SUMS = ("on_hand", "on_order", "expiring_7d")


def _words(text: str) -> tuple[str, ...]:
    return tuple(text.split())


def _layout(spec: str, types: dict[str, str]) -> tuple[tuple[str, str], ...]:
    return tuple((name, types.get(name, "text")) for name in spec.split())


# Column order of assimon/dujiaoka database/sql/install.sql; its times are MySQL ``timestamp``.
_DJ_TIMES = {"created_at": "timestamp", "updated_at": "timestamp", "deleted_at": "timestamp"}
DUJIAOKA_LAYOUTS = {
    "goods": _layout(
        "id group_id gd_name picture retail_price actual_price in_stock sales_volume ord "
        "buy_limit_num buy_prompt description type wholesale_price_cnf other_ipu_cnf api_hook "
        "is_open created_at updated_at deleted_at",
        _DJ_TIMES,
    ),
    "carmis": _layout("id goods_id status carmi created_at updated_at deleted_at", _DJ_TIMES),
    # Later versions add loop keys (is_loop, 循环卡密) after status.
    "carmis_loop": _layout(
        "id goods_id status is_loop carmi created_at updated_at deleted_at", _DJ_TIMES
    ),
    "pays": _layout(
        "id pay_name pay_check pay_method pay_client merchant_id merchant_key merchant_pem "
        "pay_handleroute is_open created_at updated_at deleted_at",
        _DJ_TIMES,
    ),
    "coupons": _layout(
        "id discount is_use is_open coupon ret created_at updated_at deleted_at", _DJ_TIMES
    ),
    "orders": _layout(
        "id order_sn goods_id coupon_id title type goods_price buy_amount coupon_discount_price "
        "wholesale_discount_price total_price actual_price search_pwd email info pay_id buy_ip "
        "trade_no status coupon_ret_back created_at updated_at deleted_at",
        _DJ_TIMES,
    ),
}

# Column order of lizhipay/acg-faka kernel/Install/Install.sql; its times are ``datetime``.
_ACG_TIMES = {
    name: "datetime"
    for name in _words(
        "create_time pay_time purchase_time login_time last_login_time seckill_start_time "
        "seckill_end_time"
    )
}
_ACG_ORDER = (
    "id owner user_id trade_no amount commodity_id card_id card_num pay_id create_time "
    "create_ip create_device pay_time status secret password contact delivery_status pay_url "
    "coupon_id cost from premium widget rent race rebate pay_cost"
)
ACG_LAYOUTS = {
    "user": _layout(
        "id username email phone qq password salt app_key avatar balance coin integral "
        "create_time login_time last_login_time login_ip last_login_ip pid recharge total_coin "
        "status business_level nicename alipay wechat settlement",
        _ACG_TIMES,
    ),
    "commodity": _layout(
        "id category_id name description cover factory_price price user_price status owner "
        "create_time api_status code delivery_way delivery_auto_mode delivery_message "
        "contact_type password_status sort coupon shared_id shared_code shared_premium "
        "shared_premium_type seckill_status seckill_start_time seckill_end_time draft_status "
        "draft_premium inventory_hidden leave_message recommend send_email only_user "
        "purchase_count widget level_price level_disable minimum maximum shared_sync config hide",
        _ACG_TIMES,
    ),
    "card": _layout(
        "id owner commodity_id draft secret create_time purchase_time order_id status note race",
        _ACG_TIMES,
    ),
    "pay": _layout(
        "id name icon code commodity recharge create_time handle sort equipment cost cost_type",
        _ACG_TIMES,
    ),
    "coupon": _layout(
        "id code commodity_id owner create_time expire_time service_time money status trade_no "
        "note mode category_id life use_life race",
        _ACG_TIMES,
    ),
    "business_level": _layout(
        "id name icon cost accrual substation top_domain price supplier", _ACG_TIMES
    ),
    # Later versions add sub-site sales (``substation_user_id``) after ``pay_cost``.
    "order": _layout(_ACG_ORDER, _ACG_TIMES),
    "order_v3": _layout(
        _ACG_ORDER + " sku divide_amount substation_user_id request_no", _ACG_TIMES
    ),
}


def _lookup(name: str, kept: str, required: tuple[str, ...], layouts) -> SourceTable:
    """A lookup table (payment gateways, coupons, merchant levels): read only joined into the
    table that names its ids (``Partner(optional=True)``); ``kept`` never holds credentials."""
    return SourceTable(
        name, "orders", None, required, kept=_words(kept), partner_only=True, layouts=layouts
    )


ADAPTERS: dict[str, list[SourceTable]] = {
    "dujiaoka": [
        # Gateway credentials (merchant_key, merchant_pem) are never read.
        _lookup("pays", "id pay_name pay_check", ("id", "pay_check"), (DUJIAOKA_LAYOUTS["pays"],)),
        _lookup("coupons", "id coupon discount", ("id", "coupon"), (DUJIAOKA_LAYOUTS["coupons"],)),
        SourceTable(
            "goods",
            "skus",
            _dujiaoka_goods,
            ("id", "type"),
            kept=("id", "group_id", "gd_name", "retail_price", "type", "is_open", "deleted_at"),
            layouts=(DUJIAOKA_LAYOUTS["goods"],),
        ),
        SourceTable(
            "carmis",
            "inventory",
            _dujiaoka_carmis,
            ("goods_id", "status"),
            _INVENTORY_SUMS,
            kept=("id", "goods_id", "status", "created_at", "updated_at", "deleted_at"),
            layouts=(DUJIAOKA_LAYOUTS["carmis"], DUJIAOKA_LAYOUTS["carmis_loop"]),
        ),
        # The same carmis file again: the batches its keys were imported in.
        SourceTable(
            "carmis",
            "card_batches",
            _dujiaoka_carmis_batches,
            ("goods_id", "created_at"),
            kept=("id", "goods_id", "created_at", "is_loop"),
            layouts=(DUJIAOKA_LAYOUTS["carmis"], DUJIAOKA_LAYOUTS["carmis_loop"]),
        ),
        SourceTable(
            "orders",
            "orders",
            _dujiaoka_orders,
            ("order_sn", "goods_id", "buy_amount", "actual_price", "status", "created_at"),
            kept=_words(
                "id order_sn goods_id coupon_id type goods_price buy_amount "
                "coupon_discount_price wholesale_discount_price total_price actual_price email "
                "pay_id buy_ip trade_no status created_at updated_at deleted_at"
            ),
            personal=("email", "buy_ip"),
            layouts=(DUJIAOKA_LAYOUTS["orders"],),
            partners=(
                Partner("pays", "pay_id", "id", ("id", "pay_check"), optional=True),
                Partner("coupons", "coupon_id", "id", ("id", "coupon"), optional=True),
            ),
        ),
    ],
    "acg-faka": [
        _lookup("pay", "id name code", ("id", "code"), (ACG_LAYOUTS["pay"],)),
        _lookup("coupon", "id code money mode", ("id", "code"), (ACG_LAYOUTS["coupon"],)),
        _lookup("business_level", "id name", ("id", "name"), (ACG_LAYOUTS["business_level"],)),
        SourceTable(
            "user",
            "merchants",
            _acg_user,
            ("id",),
            kept=("id", "username", "pid", "business_level", "status", "create_time"),
            layouts=(ACG_LAYOUTS["user"],),
            partners=(
                Partner("business_level", "business_level", "id", ("id", "name"), optional=True),
            ),
        ),
        SourceTable(
            "commodity",
            "skus",
            _acg_commodity,
            ("id", "name"),
            kept=(
                "id",
                "category_id",
                "name",
                "factory_price",
                "price",
                "status",
                "owner",
                "delivery_way",
            ),
            layouts=(ACG_LAYOUTS["commodity"],),
        ),
        SourceTable(
            "card",
            "inventory",
            _acg_card,
            ("commodity_id", "status"),
            _INVENTORY_SUMS,
            kept=(
                "id",
                "commodity_id",
                "status",
                "create_time",
                "purchase_time",
                "order_id",
                "race",
            ),
            layouts=(ACG_LAYOUTS["card"],),
        ),
        # The same card file again: the batches its keys were imported in.
        SourceTable(
            "card",
            "card_batches",
            _acg_card_batches,
            ("commodity_id", "create_time"),
            kept=("id", "owner", "commodity_id", "create_time", "race"),
            layouts=(ACG_LAYOUTS["card"],),
        ),
        SourceTable(
            "order",
            "orders",
            _acg_orders,
            ("trade_no", "commodity_id", "card_num", "amount", "status", "create_time"),
            kept=_words(
                "id owner user_id substation_user_id trade_no amount commodity_id card_num "
                "pay_id create_time create_ip pay_time status contact delivery_status coupon_id "
                "cost premium rent pay_cost from rebate divide_amount"
            ),
            personal=("contact", "create_ip"),
            layouts=(ACG_LAYOUTS["order"], ACG_LAYOUTS["order_v3"]),
            partners=(
                Partner("pay", "pay_id", "id", ("id", "code"), optional=True),
                Partner("coupon", "coupon_id", "id", ("id", "code"), optional=True),
                # The keys sold to the order (``card.order_id``): their ids are card_key_ids.
                Partner(
                    "card",
                    "id",
                    "order_id",
                    ("order_id", "commodity_id", "create_time"),
                    optional=True,
                    lists=("id",),
                ),
            ),
        ),
    ],
    "dujiao-next": [
        # Only read joined into order_items and payments (``Partner``), never on its own.
        SourceTable(
            "orders",
            "orders",
            None,
            ("id", "order_no", "status", "created_at"),
            kept=_words(
                "id order_no parent_id user_id guest_email status currency coupon_id "
                "reseller_id reseller_profit_amount affiliate_profile_id client_ip paid_at "
                "created_at updated_at deleted_at"
            ),
            personal=("guest_email", "client_ip"),
            partner_only=True,
        ),
        # Promoters' commissions: only read joined into order_items, summed per order.
        SourceTable(
            "affiliate_commissions",
            "orders",
            None,
            ("order_id", "commission_amount", "status"),
            kept=_words(
                "id affiliate_profile_id order_id order_item_id commission_type "
                "commission_amount status deleted_at"
            ),
            partner_only=True,
        ),
        SourceTable(
            "reseller_profiles",
            "agents",
            _dujiao_next_resellers,
            ("id", "created_at"),
            kept=_words("id status default_markup_percent created_at deleted_at"),
        ),
        SourceTable(
            "affiliate_profiles",
            "agents",
            _dujiao_next_affiliates,
            ("id", "created_at"),
            kept=_words("id status created_at deleted_at"),
        ),
        SourceTable(
            "card_secret_batches",
            "card_batches",
            _dujiao_next_batches,
            ("id", "product_id", "total_count", "created_at"),
            kept=_words("id batch_no product_id sku_id total_count created_at deleted_at"),
        ),
        # Only read joined into order_items (``Partner``): ids and links, never ``secret``.
        SourceTable(
            "card_secrets",
            "orders",
            None,
            ("id", "order_id"),
            kept=_words("id order_id sku_id batch_id status deleted_at"),
            partner_only=True,
        ),
        SourceTable(
            "order_items",
            "orders",
            _dujiao_next_items,
            ("id", "order_id", "product_id", "unit_price", "quantity", "fulfillment_type"),
            kept=_words(
                "id order_id product_id sku_id original_unit_price unit_price cost_price "
                "quantity total_price coupon_discount coupon_discount_amount member_discount "
                "member_discount_amount promotion_discount promotion_discount_amount "
                "wholesale_discount wholesale_discount_amount fulfillment_type deleted_at"
            ),
            partners=(
                Partner("orders", "order_id", "id", ("id", "order_no", "status", "created_at")),
                # After orders: a child order's commission is on its parent (orders.parent_id).
                Partner(
                    "affiliate_commissions",
                    "order_id",
                    "order_id",
                    ("order_id", "commission_amount", "status"),
                    optional=True,
                    key_first=_DN_ORDER + "parent_id",
                    collapse=_dn_commissions_per_order,
                ),
                # The card secrets an order used (``card_secrets.order_id``): their ids, never
                # the secrets, are card_key_ids of a one-item order.
                Partner(
                    "card_secrets",
                    "order_id",
                    "order_id",
                    ("id", "order_id"),
                    optional=True,
                    lists=("id",),
                ),  # fmt: skip
            ),
        ),
        SourceTable(
            "payments",
            "payments",
            _dujiao_next_payments,
            ("id", "order_id", "amount", "status", "created_at"),
            kept=_words(
                "id order_id provider_type channel_type amount fee_amount status "
                "provider_ref gateway_order_no created_at paid_at callback_at deleted_at"
            ),
            partners=(Partner("orders", "order_id", "id", ("id", "order_no")),),
        ),
    ],
}

# Every table of each system's install SQL: a file named after one of them is that table,
# never one of ours with a prefix (``coupons_goods`` is not ``goods`` with prefix ``coupons_``).
SYSTEM_TABLES = {
    "dujiaoka": _words(
        "admin_extension_histories admin_extensions admin_menu admin_permission_menu "
        "admin_permissions admin_role_menu admin_role_permissions admin_role_users admin_roles "
        "admin_settings admin_users carmis coupons coupons_goods emailtpls failed_jobs goods "
        "goods_group migrations orders password_resets pays"
    ),
    "acg-faka": _words(
        "bill business business_level card cash category commodity config coupon manage "
        "manage_log order order_option pay plugin shared upload user user_category "
        "user_commodity user_group user_recharge"
    ),
    # dujiao-next/dujiao-next internal/models (TableName of each model).
    "dujiao-next": _words(
        "affiliate_commissions affiliate_profiles affiliate_withdraw_requests banners "
        "card_secret_batches card_secrets cart_items categories coupon_usages coupons "
        "fulfillments gift_card_batches gift_cards member_level_prices member_levels orders "
        "order_items order_refund_records payment_channels payments product_skus products "
        "promotions resellers settings users wallet_accounts wallet_transactions "
        "reseller_profiles reseller_domains reseller_site_configs reseller_product_settings "
        "reseller_order_snapshots reseller_ledger_entries reseller_withdraw_requests "
        "reseller_balance_accounts reseller_related_accounts"
    ),
}


def tables_for_file_name(source: str, file_name: str) -> list[SourceTable]:
    """The source tables a file holds, from its name: ``orders.csv``, ``acg_order.csv``,
    ``dujiaoka_carmis_2024-05-01.csv`` (an optional one-word table prefix such as ``acg_`` and
    an optional suffix starting with a digit are allowed; ``order_option.csv`` is not
    ``order``, and a prefix that is itself a table of the system is not a prefix:
    ``coupons_goods.csv`` is not ``goods``). Usually one; a card-key table is two (the stock
    snapshot and the batches it was imported in), each loaded and counted on its own.
    """
    stem = file_name.split(".")[0].lower()
    for table in ADAPTERS[source]:
        pattern = rf"(?:([a-z0-9]+)_)?{re.escape(table.name)}(?:[-_]?\d.*)?"
        found = re.fullmatch(pattern, stem)
        if found and found.group(1) not in SYSTEM_TABLES[source]:
            return [t for t in ADAPTERS[source] if t.name == table.name]
    return []


def table_for_file_name(source: str, file_name: str) -> SourceTable | None:
    """The first source table a file holds (``tables_for_file_name``), or None."""
    tables = tables_for_file_name(source, file_name)
    return tables[0] if tables else None


def source_of(table: SourceTable) -> str | None:
    """The source system a table belongs to (None for a canonical table)."""
    return next((name for name, tables in ADAPTERS.items() if table in tables), None)


assert all(t.entity in ENTITIES for tables in ADAPTERS.values() for t in tables)
assert all(
    set(t.personal) <= set(t.kept) and set(t.source_columns) <= set(t.kept)
    for tables in ADAPTERS.values()
    for t in tables
)
