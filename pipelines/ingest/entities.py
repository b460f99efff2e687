"""What each input file must hold: its columns, their kinds and rules, and its natural key.

This is the contract's "Input files" section as data. ``validation.py`` turns it into SQL.
"""

from __future__ import annotations

from dataclasses import dataclass, field

ORDER_STATUSES = ("pending_payment", "paid", "delivered", "failed", "refunded", "cancelled")
CHANNELS = ("web", "api", "mini_program", "douyin", "other")
DELIVERY_TYPES = ("card_key", "direct_topup")
DELIVERY_MODES = ("auto", "manual", "upstream")
PAYMENT_STATUSES = ("success", "failed", "refunded")
# DECIMAL(18, 2), the warehouse's money type, holds up to 16 digits before the point.
LARGEST_AMOUNT = "9999999999999999.99"


@dataclass(frozen=True)
class Column:
    """One input column.

    kind: ``text``, ``timestamp``, ``date``, ``int``, ``money``, ``number``, ``enum``, ``bool``,
    ``region``, ``scope``. ``minimum`` applies to int, money and number. ``default`` is SQL used
    when the value is empty (a column, e.g. ``created_at``, or a literal).
    """

    name: str
    kind: str = "text"
    required: bool = False
    minimum: float | None = None
    values: tuple[str, ...] = ()
    default: str | None = None
    # A timestamp that may lie in the future (a card batch's expiry): no "after the ingest
    # run" check.
    future: bool = False


@dataclass(frozen=True)
class Entity:
    """One input table: file-name prefix, columns in contract order, natural key."""

    name: str
    columns: tuple[Column, ...]
    key: tuple[str, ...]
    # Whole-row rules: (column blamed, SQL true when the row is bad, reason).
    row_rules: tuple[tuple[str, str, str], ...] = field(default=())
    # Row rules against values that would break a later build (checked like row_rules).
    poison_rules: tuple[tuple[str, str, str], ...] = field(default=())

    @property
    def required_columns(self) -> tuple[str, ...]:
        """Columns a file must have in its header (required and without a default)."""
        return tuple(c.name for c in self.columns if c.required and c.default is None)

    def column(self, name: str) -> Column:
        return next(c for c in self.columns if c.name == name)


# ``card_key_ids``: the ids of the keys an order delivered, comma-separated (spaces around a
# comma allowed). An id is a key's id in the shop's system or a keyed hash of the key, never
# the card secret itself; ``loop:`` starts the id of a key sold again and again by design.
CARD_KEY_ID = "[A-Za-z0-9_.:/@+=#-]{1,128}"
_KEY_LIST = "string_split(regexp_replace(card_key_ids, '\\s*,\\s*', ',', 'g'), ',')"
CARD_KEY_ID_RULES = (
    (
        "card_key_ids",
        f"NOT regexp_full_match(card_key_ids, '{CARD_KEY_ID}(\\s*,\\s*{CARD_KEY_ID})*')",
        "card_key_ids is not a comma-separated list of key ids (each 1-128 letters, digits or "
        "_ . : / @ + = # -; no empty id)",
    ),
    (
        "card_key_ids",
        f"len(list_distinct({_KEY_LIST})) < len({_KEY_LIST})",
        "card_key_ids lists one key id more than once",
    ),
    (
        "card_key_ids",
        f"len({_KEY_LIST}) > quantity",
        "card_key_ids lists more keys than the order's quantity",
    ),
)

ENTITIES: dict[str, Entity] = {
    entity.name: entity
    for entity in (
        Entity(
            "skus",
            (
                Column("sku_id", required=True),
                Column("name"),
                Column("category", required=True),
                Column("brand"),
                Column("face_value", "money", minimum=0),
                Column("delivery_type", "enum", required=True, values=DELIVERY_TYPES),
                Column("supplier_id"),
                Column("shelf_life_days", "int", minimum=0),
                Column("active", "bool", required=True, default="true"),
            ),
            key=("sku_id",),
        ),
        Entity(
            "merchants",
            (
                Column("merchant_id", required=True),
                Column("name"),
                Column("tier"),
                Column("parent_merchant_id"),
                Column("region_code", "region"),
                Column("joined_at", "timestamp"),
            ),
            key=("merchant_id",),
            row_rules=(
                (
                    "parent_merchant_id",
                    "parent_merchant_id = merchant_id",
                    "a merchant cannot be its own parent",
                ),
            ),
        ),
        Entity(
            "suppliers",
            (
                Column("supplier_id", required=True),
                Column("name"),
                Column("lead_time_hours", "number", minimum=0),
                Column("min_order_qty", "int", minimum=0),
                Column("batch_size", "int", minimum=1),
            ),
            key=("supplier_id",),
        ),
        Entity(
            "price_changes",
            (
                Column("sku_id", required=True),
                Column("region_code", "region"),
                Column("effective_at", "timestamp", required=True),
                Column("list_price", "money", required=True, minimum=0),
                Column("unit_cost", "money", minimum=0),
            ),
            key=("sku_id", "region_code", "effective_at"),
        ),
        Entity(
            "inventory",
            (
                Column("as_of", "timestamp", required=True),
                Column("sku_id", required=True),
                Column("supplier_id"),
                Column("on_hand", "int", required=True, minimum=0),
                Column("on_order", "int", minimum=0, default="0"),
                Column("expiring_7d", "int", minimum=0, default="0"),
            ),
            key=("as_of", "sku_id", "supplier_id"),
        ),
        Entity(
            "supplier_balances",
            (
                Column("as_of", "timestamp", required=True),
                Column("supplier_id", required=True),
                Column("balance", "money", required=True, minimum=0),
            ),
            key=("as_of", "supplier_id"),
        ),
        Entity(
            "events",
            (
                Column("name", required=True),
                Column("start_date", "date", required=True),
                Column("end_date", "date", required=True),
                Column("scope", "scope", required=True, default="'all'"),
            ),
            key=("name", "start_date", "scope"),
            row_rules=(("end_date", "end_date < start_date", "end_date is before start_date"),),
        ),
        Entity(
            "orders",
            (
                Column("order_id", required=True),
                Column("created_at", "timestamp", required=True),
                Column("updated_at", "timestamp", required=True, default="created_at"),
                Column("paid_at", "timestamp"),
                Column("delivered_at", "timestamp"),
                Column("merchant_id", required=True),
                Column("sku_id", required=True),
                Column("quantity", "int", required=True, minimum=1),
                Column("unit_price", "money", required=True, minimum=0),
                Column("unit_cost", "money", minimum=0),
                Column("list_price", "money", minimum=0),
                Column("status", "enum", required=True, values=ORDER_STATUSES),
                Column("region_code", "region"),
                Column("channel", "enum", values=CHANNELS),
                Column("supplier_id"),
                Column("buyer_id"),
                Column("payment_method"),
                # The order's total as paid: revenue to the fen where unit_price x quantity
                # is rounded (3 keys for 64.00 are 21.33 each).
                Column("paid_amount", "money", minimum=0),
                # Issue #18: payment, coupon, agent and card-batch facts of the order.
                Column("payment_channel"),
                Column("payment_fee", "money", minimum=0),
                Column("coupon_code"),
                Column("discount_amount", "money", minimum=0),
                Column("agent_id"),
                Column("agent_commission", "money", minimum=0),
                Column("delivery_mode", "enum", values=DELIVERY_MODES),
                Column("gateway_trade_no"),
                Column("card_batch_id"),
                # Keyed hashes of buyer_contact / buyer_ip (secrets.py): never a raw value.
                Column("buyer_key"),
                Column("buyer_ip_key"),
                # Issue #19: the ids of the keys the order delivered (never the secrets).
                Column("card_key_ids"),
            ),
            key=("order_id",),
            row_rules=CARD_KEY_ID_RULES,
            poison_rules=(
                (
                    "quantity",
                    "quantity::DOUBLE * greatest(unit_price, coalesce(unit_cost, 0), "
                    f"coalesce(list_price, 0))::DOUBLE > {LARGEST_AMOUNT}",
                    "quantity x price is beyond the largest amount (DECIMAL(18, 2))",
                ),
            ),
        ),
        Entity(
            "agents",
            (
                Column("agent_id", required=True),
                Column("merchant_id", required=True),
                Column("parent_agent_id"),
                Column("commission_pct", "number", minimum=0),
                Column("joined_at", "timestamp"),
            ),
            key=("agent_id",),
            row_rules=(
                (
                    "parent_agent_id",
                    "parent_agent_id = agent_id",
                    "an agent cannot be its own parent",
                ),
                ("commission_pct", "commission_pct > 100", "commission_pct is above 100"),
            ),
        ),
        Entity(
            "card_batches",
            (
                Column("batch_id", required=True),
                Column("sku_id", required=True),
                Column("supplier_id"),
                Column("keys", "int", required=True, minimum=0),
                Column("unit_cost", "money", minimum=0),
                Column("received_at", "timestamp", required=True),
                Column("expires_at", "timestamp", future=True),
                # Loop keys (dujiaoka 循环卡密): each is delivered again and again, never used
                # up; empty is false.
                Column("is_loop", "bool", default="false"),
            ),
            key=("batch_id",),
            row_rules=(
                ("expires_at", "expires_at < received_at", "expires_at is before received_at"),
            ),
            poison_rules=(
                (
                    "keys",
                    f"keys::DOUBLE * coalesce(unit_cost, 0)::DOUBLE > {LARGEST_AMOUNT}",
                    "keys x unit_cost is beyond the largest amount (DECIMAL(18, 2))",
                ),
            ),
        ),
        Entity(
            "payments",
            (
                Column("payment_id", required=True),
                Column("order_id", required=True),
                Column("channel"),
                Column("amount", "money", required=True, minimum=0),
                Column("fee", "money", minimum=0),
                Column("status", "enum", required=True, values=PAYMENT_STATUSES),
                Column("created_at", "timestamp", required=True),
                Column("callback_at", "timestamp"),
                Column("gateway_trade_no"),
            ),
            key=("payment_id",),
            row_rules=(
                ("fee", "fee > amount", "fee is above the amount paid"),
                ("callback_at", "callback_at < created_at", "callback_at is before created_at"),
            ),
        ),
    )
}

# Folder scans load in this order (masters first, each before what names it: suppliers before
# SKUs, SKUs before their orders); file names within an entity load in name order.
ENTITY_ORDER = (
    "suppliers",
    "merchants",
    "agents",
    "skus",
    "card_batches",
    "price_changes",
    "inventory",
    "supplier_balances",
    "events",
    "orders",
    "payments",
)
assert sorted(ENTITY_ORDER) == sorted(ENTITIES)


def entity_for_file_name(name: str) -> str | None:
    """The entity a canonical file's name starts with (``orders_2024-01.csv`` -> orders)."""
    lowered = name.lower()
    # Longest prefix first: ``supplier_balances`` before ``suppliers``.
    for entity in sorted(ENTITIES, key=len, reverse=True):
        if lowered.startswith(entity):
            return entity
    return None
