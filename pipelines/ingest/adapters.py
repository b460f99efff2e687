"""Table exports of real 发卡 systems, mapped onto the contract's entities in SQL.

- ``dujiaoka`` (独角数卡, assimon/dujiaoka ``database/sql/install.sql``): a single shop, so every
  order belongs to one merchant (``--merchant-id``). ``orders`` -> orders, ``goods`` -> skus,
  ``carmis`` (card keys) -> inventory (unsold keys per goods).
- ``acg-faka`` (异次元发卡, lizhipay/acg-faka ``kernel/Install/Install.sql``): many merchants
  (``user_id``). ``order`` -> orders, ``commodity`` -> skus, ``card`` -> inventory,
  ``user`` -> merchants (``pid`` is the agent hierarchy).

Each mapping reads the staged ``src`` and yields the contract's columns as text, so the same
validation runs afterwards; values the mapping itself cannot place (an unknown status code) are
extra problems with their own reason. docs/ingest.md lists every column's mapping.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field

from pipelines.ingest.entities import ENTITIES, Entity
from pipelines.ingest.reading import quote_ident


@dataclass(frozen=True)
class AdapterOptions:
    merchant_id: str


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
class SourceTable:
    """One kind of input file: a source system's table and the entity it feeds."""

    name: str
    entity: str
    mapping: Callable[[list[str], AdapterOptions], Mapped] | None = None
    source_columns: tuple[str, ...] = ()
    # Inventory from card keys: one input row per key, summed per natural key.
    aggregate_sums: tuple[str, ...] = field(default=())

    def required_columns(self, entity: Entity) -> tuple[str, ...]:
        return self.source_columns if self.mapping else entity.required_columns


def canonical_table(entity: str) -> SourceTable:
    return SourceTable(entity, entity)


def _lit(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


class _Columns:
    """SQL for source columns as trimmed text; a column the export lacks reads as NULL."""

    def __init__(self, names: list[str]):
        self.names = set(names)

    def __call__(self, name: str) -> str:
        if name not in self.names:
            return "NULL::VARCHAR"
        return f"nullif(trim(CAST(s.{quote_ident(name)} AS VARCHAR)), '')"

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


def _soft_deleted(col: _Columns) -> tuple[str, str, str]:
    return (
        "deleted_at",
        f"{col('deleted_at')} IS NOT NULL",
        "'deleted in the source system (deleted_at is set)'",
    )


def _per_unit(total: str, quantity: str) -> str:
    """Per-unit money from an order total, rounded to cents, as text."""
    return f"CAST(round({total} / nullif({quantity}, 0), 2) AS VARCHAR)"


def _pseudonym(prefix: str, value: str) -> str:
    """A stable buyer key that does not store the e-mail / phone / QQ itself."""
    return f"CASE WHEN {value} IS NOT NULL THEN '{prefix}:' || left(md5(lower({value})), 16) END"


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
            CASE WHEN {col("pay_id")} IS NOT NULL THEN 'pay_id:' || {col("pay_id")} END
                AS payment_method
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


# ---- acg-faka (异次元发卡) ------------------------------------------------------------------


def _acg_orders(names: list[str], options: AdapterOptions) -> Mapped:
    col = _Columns(names)
    quantity = col.integer("card_num")
    # acg-faka stamps no time on delivery: a delivered version counts one second after
    # payment, so a re-export after delivery replaces the paid-only version.
    changed = f"coalesce({col.timestamp('pay_time')}, {col.timestamp('create_time')})"
    select = f"""
        SELECT s._line,
            {col("trade_no")} AS order_id,
            {col("create_time")} AS created_at,
            CASE WHEN {col("status")} = '1' AND {col("delivery_status")} = '1'
                 THEN strftime({changed} + INTERVAL 1 SECOND, '%Y-%m-%d %H:%M:%S')
                 ELSE CAST({changed} AS VARCHAR) END AS updated_at,
            {col("pay_time")} AS paid_at,
            NULL::VARCHAR AS delivered_at,
            coalesce({col("user_id")}, '0') AS merchant_id,
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
            CASE WHEN {col("pay_id")} IS NOT NULL THEN 'pay_id:' || {col("pay_id")} END
                AS payment_method
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
    problems = []
    if "delivery_way" in names:
        problems.append(
            (
                "delivery_type",
                f"{col('delivery_way')} IS NOT NULL AND {col('delivery_way')} NOT IN ('0', '1')",
                f"'acg-faka delivery_way ''' || {col('delivery_way')} || ''' is not one of 0, 1'",
            )
        )
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


def _acg_user(names: list[str], options: AdapterOptions) -> Mapped:
    col = _Columns(names)
    select = f"""
        SELECT s._line,
            {col("id")} AS merchant_id,
            {col("username")} AS name,
            CASE WHEN {col("business_level")} IS NOT NULL
                 THEN 'business_level:' || {col("business_level")} END AS tier,
            nullif({col("pid")}, '0') AS parent_merchant_id,
            NULL::VARCHAR AS region_code,
            {col("create_time")} AS joined_at
        FROM src s"""
    return Mapped(select, [])


_INVENTORY_SUMS = ("on_hand", "on_order", "expiring_7d")

ADAPTERS: dict[str, list[SourceTable]] = {
    "dujiaoka": [
        SourceTable("goods", "skus", _dujiaoka_goods, ("id", "type")),
        SourceTable(
            "carmis", "inventory", _dujiaoka_carmis, ("goods_id", "status"), _INVENTORY_SUMS
        ),
        SourceTable(
            "orders",
            "orders",
            _dujiaoka_orders,
            ("order_sn", "goods_id", "buy_amount", "actual_price", "status", "created_at"),
        ),
    ],
    "acg-faka": [
        SourceTable("user", "merchants", _acg_user, ("id",)),
        SourceTable("commodity", "skus", _acg_commodity, ("id", "name")),
        SourceTable("card", "inventory", _acg_card, ("commodity_id", "status"), _INVENTORY_SUMS),
        SourceTable(
            "order",
            "orders",
            _acg_orders,
            ("trade_no", "commodity_id", "card_num", "amount", "status", "create_time"),
        ),
    ],
}


def table_for_file_name(source: str, file_name: str) -> SourceTable | None:
    """The source table a file holds, from its name: ``orders.csv``, ``acg_order.csv``,
    ``dujiaoka_carmis_2024-05-01.csv`` (an optional table prefix such as ``acg_`` and an
    optional suffix starting with a digit are allowed; ``order_option.csv`` is not ``order``).
    """
    stem = file_name.split(".")[0].lower()
    for table in ADAPTERS[source]:
        pattern = rf"(?:[a-z0-9]+_)?{re.escape(table.name)}(?:[-_]?\d.*)?"
        if re.fullmatch(pattern, stem):
            return table
    return None


assert all(t.entity in ENTITIES for tables in ADAPTERS.values() for t in tables)
