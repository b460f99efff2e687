"""Card-key batches, promoters and split payments from the three 发卡 systems, through the real
``cardpulse ingest --source ...`` and, where they reach marts, a dbt build.

- dujiaoka ``carmis`` and acg-faka ``card`` record no batch: the keys of one import (same
  goods, same import second; acg-faka also the same ``race``) are one batch
  (assimon/dujiaoka ``app/Admin/Forms/ImportCarmis.php`` and lizhipay/acg-faka
  ``app/Controller/Admin/Api/Card.php`` stamp every key of an import with one time).
- acg-faka orders name the batch of the key sold to them (``card.order_id``).
- dujiao-next ``affiliate_profiles`` are agents; an order's ``affiliate_profile_id`` is its
  agent when no reseller sold it.
- dujiao-next payments name the order, whose items are order rows ``<order_no>/<item id>``:
  ``int_payments_by_order_row`` splits them over the items by amount share.

Fixture columns are the real tables' (install SQL / GORM models), in their order.
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from pathlib import Path

import pytest
from ingest_helpers import query, write
from test_dbt import Dbt
from test_ingest_adapters import acg_export, dujiaoka_export
from test_ingest_adapters_dujiao_next import BATCHES, ITEMS, ORDERS, PAYMENTS, _sql_values
from test_ingest_cli import run_cli

CARD = "id,owner,commodity_id,draft,secret,create_time,purchase_time,order_id,status,note,race"
AFFILIATE_PROFILES = "id,user_id,affiliate_code,status,created_at,updated_at,deleted_at"
# dujiao-next internal/models/affiliate_commission.go and reseller.go (ResellerProfile).
AFFILIATE_COMMISSIONS = (
    "id,affiliate_profile_id,order_id,order_item_id,commission_type,base_amount,rate_percent,"
    "commission_amount,status,confirm_at,available_at,withdraw_request_id,invalid_reason,"
    "created_at,updated_at,deleted_at"
)
RESELLER_PROFILES = (
    "id,user_id,status,apply_reason,reject_reason,default_markup_percent,max_markup_percent,"
    "settlement_status,reviewed_by,reviewed_at,created_at,updated_at,deleted_at"
)


def row(header: str, **values) -> str:
    """One CSV line of ``header``'s columns, empty where not given."""
    names = header.split(",")
    assert set(values) <= set(names), set(values) - set(names)
    return ",".join(str(values.get(name, "")) for name in names)


def cli_lines(home: Path, *args: str) -> list[str]:
    done = run_cli(home, *args)
    assert done.returncode == 0, done.stderr
    return done.stdout.splitlines()


# ---- acg-faka card -> card_batches, and the order's batch ----------------------------------


def acg_with_batches(folder: Path) -> Path:
    acg_export(folder)
    write(
        folder / "acg_card.csv",
        CARD,
        # One import of commodity 1 (three keys; two sold to order id 1, A20240301000001).
        "1,0,1,,S-1,2024-02-01 10:00:00,2024-03-01 10:01:00,1,1,,",
        "2,0,1,,S-2,2024-02-01 10:00:00,2024-03-01 10:01:00,1,1,,",
        "3,0,1,,S-3,2024-02-01 10:00:00,,,0,,",
        # A later import of commodity 1, race 月卡, supplied by member 1000 (供货商).
        "4,1000,1,,S-4,2024-02-05 08:30:00,,,0,,月卡",
        "5,1000,1,,S-5,2024-02-05 08:30:00,,,2,,月卡",
        # No import time: quarantined for batches (still a key on hand for inventory).
        "6,0,2,,S-6,,,,0,,",
    )
    return folder


def test_acg_faka_card_gives_batches_and_orders_name_the_batch_of_their_keys(tmp_path):
    lines = cli_lines(tmp_path, str(acg_with_batches(tmp_path / "export")), "--source", "acg-faka")
    assert (
        "acg_card.csv (card -> card_batches): 6 rows read, 2 loaded, 0 updated, 3 duplicate, "
        "1 quarantined" in lines
    ), lines
    warehouse = tmp_path / "warehouse.duckdb"
    assert query(
        tmp_path,
        "SELECT batch_id, sku_id, supplier_id, keys, received_at::VARCHAR FROM raw.card_batches "
        "ORDER BY 1",
    ) == [
        ("card:1/月卡@2024-02-05 08:30:00", "1", "1000", 2, "2024-02-05 08:30:00"),
        ("card:1@2024-02-01 10:00:00", "1", None, 3, "2024-02-01 10:00:00"),
    ]
    assert query(
        tmp_path,
        "SELECT line, column_name, reason FROM raw.quarantine WHERE entity = 'card_batches'",
    ) == [(7, "received_at", "received_at is missing")]
    # The order sold keys of the first import; the others had no key yet.
    assert query(tmp_path, "SELECT order_id, card_batch_id FROM raw.orders ORDER BY 1") == [
        ("A20240301000001", "card:1@2024-02-01 10:00:00"),
        ("A20240301000002", None),
        ("A20240301000003", None),
    ]
    # The secrets never reach the warehouse.
    assert b"S-4" not in warehouse.read_bytes()
    # The same export again changes nothing.
    again = cli_lines(tmp_path, str(tmp_path / "export"), "--source", "acg-faka")
    assert all("already loaded" in line for line in again if line.startswith("acg_")), again


def test_from_one_mysqldump_the_orders_find_their_batch_too(tmp_path):
    """A plain mysqldump holding ``acg_card`` and ``acg_order``: the card table is read for
    inventory, for batches and joined into the orders, each from the same file."""
    folder = acg_with_batches(tmp_path / "export")
    parts = []
    for table in ("card", "order"):
        header, *rows = (folder / f"acg_{table}.csv").read_text().splitlines()
        columns = ",\n".join(
            f"  `{c}` datetime DEFAULT NULL" if c.endswith("_time") else f"  `{c}` longtext"
            for c in header.split(",")
        )
        parts.append(f"CREATE TABLE `acg_{table}` (\n{columns}\n);")
        values = ",".join(_sql_values(r) for r in rows)
        parts.append(f"INSERT INTO `acg_{table}` VALUES {values};")
    dump = write(tmp_path / "shop.sql", *parts)
    lines = cli_lines(tmp_path, str(dump), "--source", "acg-faka")
    assert [line.split(":")[0] for line in lines if line.startswith("shop.sql")] == [
        "shop.sql (card -> inventory)",
        "shop.sql (card -> card_batches)",
        "shop.sql (order -> orders)",
    ], lines
    assert query(tmp_path, "SELECT count(*) FROM raw.card_batches") == [(2,)]
    assert query(tmp_path, "SELECT order_id, card_batch_id FROM raw.orders ORDER BY 1")[0] == (
        "A20240301000001", "card:1@2024-02-01 10:00:00",
    )  # fmt: skip


# ---- dujiaoka carmis -> card_batches -----------------------------------------------------


def test_dujiaoka_carmis_gives_one_batch_per_goods_and_import(tmp_path):
    export = dujiaoka_export(tmp_path / "export")
    lines = cli_lines(tmp_path, str(export), "--source", "dujiaoka", "--merchant-id", "shop-1")
    assert (
        "carmis.csv (carmis -> card_batches): 6 rows read, 2 loaded, 0 updated, 4 duplicate, "
        "0 quarantined" in lines
    ), lines
    # Every key row of an import counts, sold (status 2) and soft-deleted ones included.
    assert query(
        tmp_path, "SELECT batch_id, sku_id, keys, received_at::VARCHAR FROM raw.card_batches"
        " ORDER BY 1",
    ) == [
        ("carmis:1@2024-03-01 09:00:00", "1", 4, "2024-03-01 09:00:00"),
        ("carmis:3@2024-03-01 09:00:00", "3", 2, "2024-03-01 09:00:00"),
    ]  # fmt: skip
    # A later export with a new import of goods 1: one new batch, the old ones unchanged.
    carmis = (export / "carmis.csv").read_text()
    later = tmp_path / "later"
    later.mkdir()
    write(
        later / "carmis_2.csv",
        carmis.rstrip("\n"),
        "7,1,1,KEY-GGG,2024-03-03 18:00:00,,",
        "8,1,1,KEY-HHH,2024-03-03 18:00:00,,",
    )
    lines = cli_lines(tmp_path, str(later / "carmis_2.csv"), "--source", "dujiaoka")
    assert (
        "carmis_2.csv (carmis -> card_batches): 8 rows read, 1 loaded, 0 updated, 7 duplicate, "
        "0 quarantined" in lines
    ), lines
    assert query(tmp_path, "SELECT batch_id, keys FROM raw.card_batches ORDER BY 1") == [
        ("carmis:1@2024-03-01 09:00:00", 4),
        ("carmis:1@2024-03-03 18:00:00", 2),
        ("carmis:3@2024-03-01 09:00:00", 2),
    ]


# ---- dujiao-next: promoters, and payments split over items, into the marts ----------------


def dujiao_next_shop(folder: Path) -> Path:
    folder.mkdir()
    write(
        folder / "orders.csv",
        ORDERS,
        # DN7: a guest's one-item order brought by promoter 8, no reseller.
        row(ORDERS, id=7, order_no="DN7", user_id=0, guest_email="p@example.com",
            status="delivered", currency="CNY", total_amount="12.00", online_paid_amount="12.00",
            affiliate_profile_id=8, affiliate_code="AFF8", reseller_profit_amount="0.00",
            client_ip="1.1.1.1", paid_at="2024-03-05 10:00:20",
            created_at="2024-03-05 10:00:00", updated_at="2024-03-05 10:01:00"),
        # DN8: a member's order of three items, sold on reseller 3's domain (1.50 profit) and
        # also carrying promoter 8: the reseller is its agent.
        row(ORDERS, id=8, order_no="DN8", user_id=42, status="delivered", currency="CNY",
            total_amount="33.33", online_paid_amount="33.33", affiliate_profile_id=8,
            reseller_id=3, reseller_domain="r3.example.com", reseller_profit_amount="1.50",
            client_ip="2.2.2.2", paid_at="2024-03-06 09:00:30",
            created_at="2024-03-06 09:00:00", updated_at="2024-03-06 09:02:00"),
        # DN9: two items, the promoter known only from its commission (a code, no profile id).
        row(ORDERS, id=9, order_no="DN9", user_id=43, status="completed", currency="CNY",
            total_amount="30.00", affiliate_code="AFF8", reseller_profit_amount="0.00",
            paid_at="2024-03-07 09:00:30", created_at="2024-03-07 09:00:00",
            updated_at="2024-03-07 09:05:00"),
        # DN10: a parent order the buyer paid, its two items on child orders DN10-1, DN10-2:
        # the commission is booked on the parent.
        row(ORDERS, id=10, order_no="DN10", user_id=44, status="delivered", currency="CNY",
            total_amount="15.00", affiliate_profile_id=8, reseller_profit_amount="0.00",
            paid_at="2024-03-08 09:00:30", created_at="2024-03-08 09:00:00",
            updated_at="2024-03-08 09:05:00"),
        *(row(ORDERS, id=10 + n, order_no=f"DN10-{n}", parent_id=10, user_id=44,
              status="delivered", currency="CNY", affiliate_profile_id=8,
              reseller_profit_amount="0.00", paid_at="2024-03-08 09:00:30",
              created_at="2024-03-08 09:00:00", updated_at="2024-03-08 09:05:00")
          for n in (1, 2)),
        # DN13: cancelled; its commission was rejected.
        row(ORDERS, id=13, order_no="DN13", user_id=45, status="canceled", currency="CNY",
            affiliate_profile_id=8, reseller_profit_amount="0.00",
            created_at="2024-03-09 09:00:00", updated_at="2024-03-09 09:30:00"),
        # DN14: its commission row cannot be read: the item is quarantined with the reason.
        row(ORDERS, id=14, order_no="DN14", user_id=46, status="delivered", currency="CNY",
            affiliate_profile_id=8, reseller_profit_amount="0.00", paid_at="2024-03-09 10:00:30",
            created_at="2024-03-09 10:00:00", updated_at="2024-03-09 10:05:00"),
    )  # fmt: skip
    write(
        folder / "order_items.csv",
        ITEMS,
        row(ITEMS, id=31, order_id=7, product_id=5, sku_id=7, original_unit_price="12.00",
            unit_price="12.00", cost_price="10.00", quantity=1, total_price="12.00",
            coupon_discount="0.00", fulfillment_type="auto"),
        # DN8's items: 10.00 + 10.00 + 13.33 = 33.33.
        row(ITEMS, id=32, order_id=8, product_id=5, sku_id=7, original_unit_price="10.00",
            unit_price="10.00", cost_price="8.00", quantity=1, total_price="10.00",
            coupon_discount="0.00", fulfillment_type="auto"),
        row(ITEMS, id=33, order_id=8, product_id=6, sku_id=0, original_unit_price="5.00",
            unit_price="5.00", cost_price="4.00", quantity=2, total_price="10.00",
            coupon_discount="0.00", fulfillment_type="manual"),
        row(ITEMS, id=34, order_id=8, product_id=5, sku_id=9, original_unit_price="13.33",
            unit_price="13.33", cost_price="11.00", quantity=1, total_price="13.33",
            coupon_discount="0.00", fulfillment_type="upstream"),
        # DN9: 10.00 + 20.00 paid.
        *(row(ITEMS, id=item, order_id=9, product_id=5, sku_id=7, unit_price=total,
              cost_price="5.00", quantity=1, total_price=total, coupon_discount="0.00",
              fulfillment_type="auto")
          for item, total in ((41, "10.00"), (42, "20.00"))),
        # DN10's items, one per child order: 5.00 and 10.00.
        row(ITEMS, id=51, order_id=11, product_id=5, sku_id=7, unit_price="5.00",
            quantity=1, total_price="5.00", fulfillment_type="auto"),
        row(ITEMS, id=52, order_id=12, product_id=5, sku_id=7, unit_price="10.00",
            quantity=1, total_price="10.00", fulfillment_type="auto"),
        row(ITEMS, id=61, order_id=13, product_id=5, sku_id=7, unit_price="9.00",
            quantity=1, total_price="9.00", fulfillment_type="auto"),
        row(ITEMS, id=71, order_id=14, product_id=5, sku_id=7, unit_price="9.00",
            quantity=1, total_price="9.00", fulfillment_type="auto"),
    )  # fmt: skip
    write(
        folder / "affiliate_commissions.csv",
        AFFILIATE_COMMISSIONS,
        # DN7: 1.20 at 10%, split in two by a partial withdrawal (1.00 paid out, 0.20 left).
        row(AFFILIATE_COMMISSIONS, id=1, affiliate_profile_id=8, order_id=7,
            commission_type="order", base_amount="12.00", rate_percent="10.00",
            commission_amount="1.00", status="withdrawn", withdraw_request_id=1,
            created_at="2024-03-05 10:00:20", updated_at="2024-03-20 10:00:00"),
        row(AFFILIATE_COMMISSIONS, id=2, affiliate_profile_id=8, order_id=7,
            commission_type="split_1a", base_amount="12.00", rate_percent="10.00",
            commission_amount="0.20", status="available",
            created_at="2024-03-20 10:00:00", updated_at="2024-03-20 10:00:00"),
        row(AFFILIATE_COMMISSIONS, id=3, affiliate_profile_id=8, order_id=9,
            commission_type="order", base_amount="30.00", rate_percent="3.33",
            commission_amount="1.00", status="pending_confirm", confirm_at="2024-03-14 09:00:30",
            created_at="2024-03-07 09:00:30", updated_at="2024-03-07 09:00:30"),
        row(AFFILIATE_COMMISSIONS, id=4, affiliate_profile_id=8, order_id=10,
            commission_type="order", base_amount="15.00", rate_percent="5.00",
            commission_amount="0.75", status="available",
            created_at="2024-03-08 09:00:30", updated_at="2024-03-08 09:00:30"),
        row(AFFILIATE_COMMISSIONS, id=5, affiliate_profile_id=8, order_id=13,
            commission_type="order", base_amount="9.00", rate_percent="10.00",
            commission_amount="0.90", status="rejected", invalid_reason="order_canceled",
            created_at="2024-03-09 09:00:30", updated_at="2024-03-09 09:30:00"),
        row(AFFILIATE_COMMISSIONS, id=6, affiliate_profile_id=8, order_id=14,
            commission_type="order", base_amount="9.00", rate_percent="10.00",
            commission_amount="n/a", status="available",
            created_at="2024-03-09 10:00:30", updated_at="2024-03-09 10:00:30"),
    )  # fmt: skip
    write(
        folder / "reseller_profiles.csv",
        RESELLER_PROFILES,
        # Reseller 3 (DN8's): 25% over the shop's price, so 20% of what its buyers pay.
        row(RESELLER_PROFILES, id=3, user_id=90, status="active",
            default_markup_percent="25.00", max_markup_percent="50.00",
            settlement_status="normal", created_at="2024-01-05 08:00:00",
            updated_at="2024-01-06 08:00:00"),
        row(RESELLER_PROFILES, id=4, user_id=91, status="pending_review",
            default_markup_percent="0.00", max_markup_percent="0.00",
            settlement_status="normal", created_at="2024-02-05 08:00:00",
            updated_at="2024-02-05 08:00:00"),
        # Quarantined: deleted in the shop; a markup that is not a number.
        row(RESELLER_PROFILES, id=5, user_id=92, status="disabled",
            default_markup_percent="10.00", created_at="2024-01-07 08:00:00",
            updated_at="2024-02-07 08:00:00", deleted_at="2024-02-07 08:00:00"),
        row(RESELLER_PROFILES, id=6, user_id=93, status="active",
            default_markup_percent="ten", created_at="2024-01-08 08:00:00",
            updated_at="2024-01-08 08:00:00"),
    )  # fmt: skip
    write(
        folder / "payments.csv",
        PAYMENTS,
        row(PAYMENTS, id=71, order_id=7, provider_type="epay", channel_type="alipay",
            amount="12.00", fee_amount="0.07", currency="CNY", status="success",
            created_at="2024-03-05 10:00:05", paid_at="2024-03-05 10:00:20",
            callback_at="2024-03-05 10:00:21"),
        # DN8: one expired attempt, then one paid 33.33 with a 0.20 fee.
        row(PAYMENTS, id=81, order_id=8, provider_type="official", channel_type="wechat",
            amount="33.33", fee_amount="0.20", currency="CNY", status="expired",
            created_at="2024-03-06 09:00:05"),
        row(PAYMENTS, id=82, order_id=8, provider_type="epay", channel_type="alipay",
            amount="33.33", fee_amount="0.20", currency="CNY", status="success",
            created_at="2024-03-06 09:00:10", paid_at="2024-03-06 09:00:30",
            callback_at="2024-03-06 09:00:31"),
    )  # fmt: skip
    write(
        folder / "affiliate_profiles.csv",
        AFFILIATE_PROFILES,
        "8,77,AFF8,active,2024-01-10 12:00:00,2024-01-10 12:00:00,",
        # A profile deleted in the shop: quarantined with that reason.
        "9,78,AFF9,disabled,2024-01-11 12:00:00,2024-02-01 12:00:00,2024-02-01 12:00:00",
    )
    write(
        folder / "card_secret_batches.csv",
        BATCHES,
        "1,5,7,B20240301,csv,500,首批,1,2024-03-01 09:00:00,2024-03-01 09:00:00,",
    )
    return folder


@pytest.fixture(scope="module")
def built(tmp_path_factory) -> Path:
    """A dujiao-next shop and an acg-faka site ingested with the CLI into one warehouse (their
    ids do not meet), then dbt builds the marts they reach."""
    home = tmp_path_factory.mktemp("whole_order_home")
    exports = tmp_path_factory.mktemp("exports")
    lines = cli_lines(home, str(dujiao_next_shop(exports / "dn")), "--source", "dujiao-next")
    lines += cli_lines(home, str(acg_with_batches(exports / "acg")), "--source", "acg-faka")
    assert not any("FAILED" in line for line in lines), lines
    # Those marts and what they are built from, with the tests on them alone.
    models = ("fct_payments", "fct_order_profit", "dim_card_batches", "dim_agents")
    build = Dbt(home / "warehouse.duckdb")(
        "build", "--indirect-selection", "cautious", "--select", *(f"+{m}" for m in models)
    )
    assert build.success, build.explain()
    return home


def test_dujiao_next_promoters_and_resellers_are_agents_and_the_reseller_wins(built):
    # Promoters (affiliate_profiles) and resellers (reseller_profiles, the id orders name them
    # by; commission rule 25% markup = 20% of the price the buyer pays).
    assert query(
        built,
        "SELECT agent_id, merchant_id, parent_agent_id, commission_pct, joined_at::VARCHAR "
        "FROM raw.agents ORDER BY 1",
    ) == [
        ("3", "dujiao-next", None, 20.0, "2024-01-05 08:00:00"),
        ("4", "dujiao-next", None, 0.0, "2024-02-05 08:00:00"),
        ("affiliate:8", "dujiao-next", None, None, "2024-01-10 12:00:00"),
    ]
    assert query(
        built,
        "SELECT file_path LIKE '%reseller%', reason FROM raw.quarantine WHERE entity = 'agents' "
        "ORDER BY 1, 2",
    ) == [
        (False, "deleted in the source system (deleted_at is set)"),
        (True, "default_markup_percent 'ten' is not a number"),
        (True, "deleted in the source system (deleted_at is set)"),
    ]
    # Promoter commissions (affiliate_commissions) land on the orders' rows: DN7's two rows
    # (split by a withdrawal) summed; DN9's shared by its items in proportion to what was paid,
    # to the fen; DN10's, booked on the parent order, shared by its child orders' items; DN13's
    # was rejected (cancelled): 0. DN9's promoter comes from its commission alone.
    assert query(
        built,
        "SELECT order_id, agent_id, agent_commission::VARCHAR FROM raw.orders "
        "WHERE order_id LIKE 'DN%' ORDER BY 1",
    ) == [
        ("DN10-1", "affiliate:8", "0.25"),
        ("DN10-2", "affiliate:8", "0.50"),
        ("DN13", "affiliate:8", "0.00"),
        ("DN7", "affiliate:8", "1.20"),
        ("DN8/32", "3", "1.50"),
        ("DN8/33", "3", "0.00"),
        ("DN8/34", "3", "0.00"),
        ("DN9/41", "affiliate:8", "0.33"),
        ("DN9/42", "affiliate:8", "0.67"),
    ]
    # DN14's commission cannot be read: its item is quarantined with the reason, not loaded
    # without its commission.
    assert query(
        built,
        "SELECT reason FROM raw.quarantine WHERE entity = 'orders' AND file_path LIKE '%items%'",
    ) == [("affiliate_commissions commission_amount 'n/a' is not a number",)]
    assert query(
        built,
        "SELECT agent_id, is_listed, commission_pct FROM analytics.dim_agents ORDER BY 1",
    ) == [("3", True, 20.0), ("4", True, 0.0), ("affiliate:8", True, None)]
    # The profit waterfall takes the commissions as the orders' own.
    d = Decimal
    assert query(
        built,
        "SELECT agent_id, sum(agent_commission), min(agent_commission_source), count(*) "
        "FROM analytics.fct_order_profit WHERE order_id LIKE 'DN%' GROUP BY 1 ORDER BY 1",
    ) == [("3", d("1.50"), "order", 3), ("affiliate:8", d("2.95"), "order", 5)]


def test_a_multi_item_orders_payments_are_split_over_its_items_to_the_fen(built):
    rows = query(
        built,
        "SELECT payment_id, attempt_id, order_id, status, amount, fee, is_split, has_order "
        "FROM analytics.fct_payments ORDER BY attempt_id, order_id",
    )
    d = Decimal
    assert rows == [
        ("71", "71", "DN7", "success", d("12.00"), d("0.07"), False, True),
        ("81:DN8/32", "81", "DN8/32", "failed", d("10.00"), d("0.06"), True, True),
        ("81:DN8/33", "81", "DN8/33", "failed", d("10.00"), d("0.06"), True, True),
        ("81:DN8/34", "81", "DN8/34", "failed", d("13.33"), d("0.08"), True, True),
        ("82:DN8/32", "82", "DN8/32", "success", d("10.00"), d("0.06"), True, True),
        ("82:DN8/33", "82", "DN8/33", "success", d("10.00"), d("0.06"), True, True),
        ("82:DN8/34", "82", "DN8/34", "success", d("13.33"), d("0.08"), True, True),
    ]
    # Each attempt's parts add up to it exactly.
    assert query(
        built,
        "SELECT attempt_id, sum(amount), sum(fee) FROM analytics.fct_payments "
        "GROUP BY 1 ORDER BY 1",
    ) == [("71", d("12.00"), d("0.07")), ("81", d("33.33"), d("0.20")),
          ("82", d("33.33"), d("0.20"))]  # fmt: skip
    # Per item, the successful payments equal what the item row says was paid, and the profit
    # waterfall takes each item's share of the fee.
    assert query(
        built,
        """SELECT o.order_id, o.paid_amount, sum(p.amount), f.payment_fee, f.payment_fee_source
           FROM analytics.fct_orders o
           JOIN analytics.fct_payments p ON p.order_id = o.order_id AND p.is_success
           JOIN analytics.fct_order_profit f ON f.order_id = o.order_id
           WHERE o.order_id LIKE 'DN%' GROUP BY ALL ORDER BY 1""",
    ) == [
        ("DN7", d("12.00"), d("12.00"), d("0.07"), "payments"),
        ("DN8/32", d("10.00"), d("10.00"), d("0.06"), "payments"),
        ("DN8/33", d("10.00"), d("10.00"), d("0.06"), "payments"),
        ("DN8/34", d("13.33"), d("13.33"), d("0.08"), "payments"),
    ]


def test_acg_faka_batches_count_the_keys_sold_from_them(built):
    assert query(
        built,
        "SELECT batch_id, keys, keys_sold, keys_left FROM analytics.dim_card_batches "
        "WHERE batch_id LIKE 'card:%' ORDER BY 1",
    ) == [
        ("card:1/月卡@2024-02-05 08:30:00", 2, 0, 2),
        ("card:1@2024-02-01 10:00:00", 3, 2, 1),
    ]


def test_the_profit_page_counts_a_split_attempt_once(built):
    import duckdb

    from dashboard import data
    from dashboard.data import profit as profit_data

    filters = profit_data.ProfitFilters(date(2024, 3, 1), date(2024, 3, 31))
    with duckdb.connect(str(built / "warehouse.duckdb"), read_only=True) as conn:
        channels = profit_data.payment_channels(conn, data.Scope("admin"), filters)
    attempts = channels.set_index("payment_channel")[["attempts", "success_rate"]]
    # alipay: 71 and 82 (split over three items), both paid; wechat: 81, expired.
    assert attempts.loc["alipay"].tolist() == [2, 1.0]
    assert attempts.loc["wechat"].tolist() == [1, 0.0]


# ---- dujiaoka loop keys (carmis.is_loop, 循环卡密) ---------------------------------------------


def test_dujiaoka_loop_keys_are_a_batch_of_their_own_never_used_up_nor_overdrawn(tmp_path):
    """A loop key is never marked sold (dujiaoka ``CarmisService::soldByIDS`` skips
    ``is_loop``): delivered to order after order, it is one key of a loop batch, whose keys are
    never used up and whose draw-down reconciliation does not check."""
    export = tmp_path / "export"
    export.mkdir()
    write(
        export / "carmis.csv",
        # The carmis layout of versions with loop keys (is_loop after status).
        "id,goods_id,status,is_loop,carmi,created_at,updated_at,deleted_at",
        "1,1,1,0,KEY-A,2026-03-01 09:00:00,,",
        "2,1,2,0,KEY-B,2026-03-01 09:00:00,2026-03-02 10:00:00,",
        "3,1,1,1,KEY-LOOP,2026-03-01 09:00:00,,",
        "4,1,1,,KEY-C,2026-03-01 09:00:00,,",  # empty: the column's default, 0
        "5,1,1,7,KEY-X,2026-03-01 09:00:00,,",  # quarantined, in neither batch
    )
    lines = cli_lines(tmp_path, str(export / "carmis.csv"), "--source", "dujiaoka")
    summary = "carmis.csv (carmis -> card_batches): 5 rows read, 2 loaded, 0 updated, 2 duplicate"
    assert any(line.startswith(summary + ", 1 quarantined") for line in lines), lines
    assert query(tmp_path, "SELECT batch_id, keys, is_loop FROM raw.card_batches ORDER BY 1") == [
        ("carmis:1/loop@2026-03-01 09:00:00", 1, True),
        ("carmis:1@2026-03-01 09:00:00", 3, False),
    ]
    assert query(tmp_path, "SELECT reason FROM raw.quarantine WHERE entity = 'card_batches'") == [
        ("dujiaoka carmis is_loop '7' is not one of 0, 1",)
    ]
    # Orders naming the batches their keys came from: the loop key delivered five times, the
    # other batch four keys from its three (an over-draw, found).
    orders = (
        "order_id,created_at,delivered_at,merchant_id,sku_id,quantity,unit_price,unit_cost,"
        "status,card_batch_id"
    )
    write(
        export / "orders.csv",
        orders,
        *(f"L{n},2026-03-0{n + 1} 10:00,2026-03-0{n + 1} 10:01,dujiaoka,1,1,5.00,4.00,"
          "delivered,carmis:1/loop@2026-03-01 09:00:00" for n in range(1, 6)),
        *(f"N{n},2026-03-0{n + 1} 11:00,2026-03-0{n + 1} 11:01,dujiaoka,1,1,5.00,4.00,"
          "delivered,carmis:1@2026-03-01 09:00:00" for n in range(1, 5)),
    )  # fmt: skip
    cli_lines(tmp_path, str(export / "orders.csv"))
    from test_recon import _dbt_build

    _dbt_build(tmp_path)
    assert query(
        tmp_path,
        "SELECT batch_id, keys, keys_sold, keys_left, is_loop FROM analytics.dim_card_batches "
        "ORDER BY 1",
    ) == [
        ("carmis:1/loop@2026-03-01 09:00:00", 1, 5, 1, True),
        ("carmis:1@2026-03-01 09:00:00", 3, 4, -1, False),
    ]
    # The over-drawn batch has no unit cost (dujiaoka records none): the excess key is valued
    # at the cost its orders booked.
    assert query(
        tmp_path, "SELECT kind, batch_id, keys, amount FROM analytics.recon_card_keys"
    ) == [("batch_overdrawn", "carmis:1@2026-03-01 09:00:00", 1, Decimal("4.00"))]


def test_from_one_mysqldump_the_items_find_their_commissions_and_resellers_are_agents(tmp_path):
    """The same shop as one mysqldump of the database: commissions are read from the same file
    as the items (one read per table), resellers from their table in it."""
    shop = dujiao_next_shop(tmp_path / "csv")
    parts = ["/*!40103 SET TIME_ZONE='+00:00' */;"]
    for table in ("orders", "order_items", "affiliate_commissions", "reseller_profiles"):
        header, *rows = (shop / f"{table}.csv").read_text().splitlines()
        columns = ",\n".join(
            f"  `{c}` datetime DEFAULT NULL" if c.endswith("_at") else f"  `{c}` longtext"
            for c in header.split(",")
        )
        parts.append(f"CREATE TABLE `{table}` (\n{columns}\n);")
        parts.append(f"INSERT INTO `{table}` VALUES " + ",".join(map(_sql_values, rows)) + ";")
    (tmp_path / "dump").mkdir()
    dump = write(tmp_path / "dump" / "shop.sql", *parts)
    lines = cli_lines(tmp_path, str(dump), "--source", "dujiao-next")
    assert any(line.startswith("shop.sql (order_items -> orders): 10 rows read") for line in lines)
    assert query(
        tmp_path,
        "SELECT order_id, agent_id, agent_commission::VARCHAR FROM raw.orders "
        "WHERE agent_id LIKE 'affiliate:%' ORDER BY 1",
    ) == [
        ("DN10-1", "affiliate:8", "0.25"),
        ("DN10-2", "affiliate:8", "0.50"),
        ("DN13", "affiliate:8", "0.00"),
        ("DN7", "affiliate:8", "1.20"),
        ("DN9/41", "affiliate:8", "0.33"),
        ("DN9/42", "affiliate:8", "0.67"),
    ]
    assert query(tmp_path, "SELECT agent_id, commission_pct FROM raw.agents ORDER BY 1") == [
        ("3", 20.0),
        ("4", 0.0),
    ]
