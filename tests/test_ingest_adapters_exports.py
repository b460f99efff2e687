"""dujiaoka and acg-faka shops exported the four ways their admins do it: Navicat/DBeaver CSV,
phpMyAdmin CSV, ``mysqldump --tab`` and a plain ``mysqldump`` file.

One small shop per system is built in memory (3 goods, 40 orders in every status, coupons, card
keys whose secrets hold line breaks, tabs, quotes and backslashes) with the column order and
status codes of each system's install SQL (assimon/dujiaoka ``database/sql/install.sql``,
lizhipay/acg-faka ``kernel/Install/Install.sql``), then written in each shape, so all four hold
the same data and must load to the same orders, statuses and amounts.
"""

from __future__ import annotations

import csv
import io
import os
import stat
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from ingest_helpers import ingest, query

from pipelines.ingest import mysqldump
from pipelines.ingest.adapters import ACG_LAYOUTS, DUJIAOKA_LAYOUTS

SHANGHAI = ZoneInfo("Asia/Shanghai")
START = datetime(2024, 3, 1, 9, 0, 0)
SHAPES = ("navicat", "phpmyadmin", "phpmyadmin_no_header", "tab", "dump")


@dataclass
class Table:
    name: str  # as in the database (acg-faka's carry the install prefix ``acg_``)
    layout: tuple[tuple[str, str], ...]
    rows: list[dict]


@dataclass
class Shop:
    source: str
    tables: list[Table]
    expected_orders: list[tuple]  # order_id, status, quantity, unit_price, created_at
    secrets: list[str]  # values that must be stored nowhere


# ---- the shops -------------------------------------------------------------------------------


def _card_secret(number: int) -> str:
    # Real card keys: several lines, sometimes a tab, quotes or a backslash.
    return f"卡号:CK{number:04d}\n密码:P\\w{number}'\"\tX;--"


def dujiaoka_shop() -> Shop:
    goods = [
        dict(
            id=1,
            group_id=1,
            gd_name="腾讯Q币 10元",
            retail_price="10.00",
            actual_price="9.80",
            type=1,
            is_open=1,
            description='自动发货,\n"秒到"',
        ),
        dict(
            id=2,
            group_id=2,
            gd_name="王者荣耀 60点券 代充",
            retail_price="6.00",
            actual_price="6.00",
            type=2,
            is_open=1,
            description="人工处理\t工作日",
        ),
        dict(
            id=3,
            group_id=1,
            gd_name="Steam 钱包 50",
            retail_price="50.00",
            actual_price="48.00",
            type=1,
            is_open=0,
            description="C:\\steam",
        ),
    ]
    carmis = []
    for number in range(1, 9):
        sold = number <= 3
        carmis.append(
            dict(
                id=number,
                goods_id=1 if number <= 6 else 3,
                status=2 if sold else 1,
                carmi=_card_secret(number),
                created_at=START,
                updated_at=START + timedelta(hours=number),
            )
        )
    # 40 orders: every status code of install.sql (1 待支付, 2 待处理, 3 处理中, 4 已完成,
    # 5 处理失败, 6 异常, -1 过期).
    statuses = [4] * 20 + [1] * 6 + [2] * 3 + [3] * 2 + [5] * 3 + [6] * 2 + [-1] * 4
    mapped = {
        1: "pending_payment",
        2: "paid",
        3: "paid",
        4: "delivered",
        5: "failed",
        6: "failed",
        -1: "cancelled",
    }
    orders, expected, secret_values = [], [], []
    for index, status in enumerate(statuses):
        goods_row = goods[index % 3]
        quantity = 1 + index % 3
        price = Decimal(goods_row["actual_price"])
        coupon = Decimal("1.00") if index % 5 == 0 else Decimal("0.00")
        total = price * quantity
        actual = total - coupon
        if index == 7:  # 3 units paid 64.00 in all (a wholesale price)
            quantity, actual, total = 3, Decimal("64.00"), price * 3
        created = START + timedelta(hours=index * 7, minutes=index)
        email = f"Buyer{index}@Example.com"
        ip = f"10.0.{index}.{index + 1}"
        info = _card_secret(100 + index) if status == 4 else None
        order_sn = f"D20240301{index:05d}"
        orders.append(
            dict(
                id=index + 1,
                order_sn=order_sn,
                goods_id=goods_row["id"],
                coupon_id=7 if coupon else 0,
                title=f"{goods_row['gd_name']} x {quantity}",
                type=goods_row["type"],
                goods_price=str(price),
                buy_amount=quantity,
                coupon_discount_price=str(coupon),
                wholesale_discount_price="0.00",
                total_price=str(total),
                actual_price=str(actual),
                search_pwd="",
                email=email,
                info=info,
                pay_id=14 + index % 2,
                buy_ip=ip,
                trade_no=f"2024030122001{index:06d}" if status != 1 else "",
                status=status,
                coupon_ret_back=0,
                created_at=created,
                updated_at=created + timedelta(minutes=3),
                deleted_at=None,
            )
        )
        unit = (actual / quantity).quantize(Decimal("0.01"))
        expected.append((order_sn, mapped[status], quantity, str(unit), created))
        secret_values += [email.lower(), ip] + ([info] if info else [])
    secret_values += [c["carmi"] for c in carmis]
    coupons = [
        dict(
            id=7,
            discount="1.00",
            is_use=1,
            is_open=1,
            coupon="SPRING",
            ret=10,
            created_at=START,
            updated_at=START,
            deleted_at=None,
        )
    ]
    coupons_goods = [dict(id=1, goods_id=1, coupons_id=7), dict(id=2, goods_id=3, coupons_id=7)]
    coupon_layout = tuple(
        (c, "timestamp" if c.endswith("_at") else "text")
        for c in [
            "id",
            "discount",
            "is_use",
            "is_open",
            "coupon",
            "ret",
            "created_at",
            "updated_at",
            "deleted_at",
        ]
    )
    return Shop(
        "dujiaoka",
        [
            Table("goods", DUJIAOKA_LAYOUTS["goods"], goods),
            Table("carmis", DUJIAOKA_LAYOUTS["carmis"], carmis),
            Table("coupons", coupon_layout, coupons),
            Table(
                "coupons_goods",
                (("id", "text"), ("goods_id", "text"), ("coupons_id", "text")),
                coupons_goods,
            ),
            Table("orders", DUJIAOKA_LAYOUTS["orders"], orders),
        ],
        expected,
        secret_values,
    )


def acg_shop() -> Shop:
    users = [
        dict(
            id=1000,
            username="总站商户",
            email="boss@example.com",
            phone="13800000000",
            password="hash",
            salt="salt",
            app_key="APPKEY1000",
            balance="0.00",
            coin="0.00",
            integral=0,
            create_time=START - timedelta(days=90),
            pid=0,
            recharge="0.00",
            total_coin="0.00",
            status=1,
            business_level=4,
            settlement=0,
        ),
        dict(
            id=1001,
            username="分站A",
            email="a@example.com",
            phone="13900000000",
            password="hash",
            salt="salt",
            app_key="APPKEY1001",
            balance="0.00",
            coin="0.00",
            integral=0,
            create_time=START - timedelta(days=30),
            pid=1000,
            recharge="0.00",
            total_coin="0.00",
            status=1,
            business_level=1,
            settlement=0,
        ),
    ]
    commodities = [
        dict(
            id=1,
            category_id=1,
            name="Steam 钱包 50",
            description="<p>自动\n发货</p>",
            factory_price="45.00",
            price="50.00",
            user_price="49.00",
            status=1,
            owner=0,
            create_time=START,
            api_status=0,
            code="C1",
            delivery_way=0,
        ),
        dict(
            id=2,
            category_id=1,
            name="网易云音乐年卡",
            description='手动, "工作日"',
            factory_price="80.00",
            price="98.00",
            user_price="95.00",
            status=1,
            owner=1000,
            create_time=START,
            api_status=0,
            code="C2",
            delivery_way=1,
        ),
        dict(
            id=3,
            category_id=2,
            name="下架商品",
            description=None,
            factory_price="1.00",
            price="2.00",
            user_price="2.00",
            status=0,
            owner=0,
            create_time=START,
            api_status=0,
            code="C3",
            delivery_way=0,
        ),
    ]
    cards = [
        dict(
            id=n,
            owner=0,
            commodity_id=1 if n <= 6 else 3,
            secret=_card_secret(n),
            create_time=START,
            purchase_time=START + timedelta(hours=n) if n <= 2 else None,
            order_id=n if n <= 2 else None,
            status=1 if n <= 2 else (2 if n == 3 else 0),
        )
        for n in range(1, 9)
    ]
    orders, expected, secret_values = [], [], []
    # 40 orders: status 0 未支付 / 1 已支付, delivery_status 0 / 1; sold on the main site
    # (substation_user_id NULL) or on sub-site 1001.
    for index in range(40):
        commodity = commodities[index % 2]
        paid = index % 4 != 3
        delivered = paid and index % 5 != 1
        quantity = 1 + index % 3
        amount = Decimal(commodity["price"]) * quantity - (Decimal("0.50") if index % 6 == 0 else 0)
        if index == 8:
            quantity, amount = 3, Decimal("64.00")
        created = START + timedelta(hours=index * 5, minutes=index)
        contact = f"qq{100000 + index}" if index % 2 else f"User{index}@Example.com"
        ip = f"172.16.{index}.9"
        substation = 1001 if index % 3 == 0 else None
        trade_no = f"A2024030100{index:05d}"
        secret = _card_secret(200 + index) if delivered else None
        orders.append(
            dict(
                id=index + 1,
                owner=0,
                user_id=commodity["owner"],
                trade_no=trade_no,
                amount=str(amount),
                commodity_id=commodity["id"],
                card_id=None,
                card_num=quantity,
                pay_id=2,
                create_time=created,
                create_ip=ip,
                create_device=index % 4,
                pay_time=created + timedelta(minutes=1) if paid else None,
                status=1 if paid else 0,
                secret=secret,
                password="pw" if index % 7 == 0 else None,
                contact=contact,
                delivery_status=1 if delivered else 0,
                pay_url=None,
                coupon_id=5 if index % 6 == 0 else None,
                cost="0.00",
                premium="0.00",
                widget='{"game_account": "' + contact + '"}',
                rent=str(Decimal(commodity["factory_price"]) * quantity),
                race=None,
                rebate="0.00",
                pay_cost="0.00",
                sku=None,
                divide_amount=None,
                substation_user_id=substation,
                request_no=None,
            )
        )
        status = "delivered" if delivered else ("paid" if paid else "pending_payment")
        unit = (amount / quantity).quantize(Decimal("0.01"))
        expected.append((trade_no, status, quantity, str(unit), created))
        secret_values += [contact.lower(), ip] + ([secret] if secret else [])
    secret_values += [c["secret"] for c in cards] + ["appkey1000", "13800000000"]
    option_layout = (("id", "text"), ("order_id", "text"), ("option", "text"))
    return Shop(
        "acg-faka",
        [
            Table("acg_user", ACG_LAYOUTS["user"], users),
            Table("acg_commodity", ACG_LAYOUTS["commodity"], commodities),
            Table("acg_card", ACG_LAYOUTS["card"], cards),
            Table("acg_order", ACG_LAYOUTS["order_v3"], orders),
            Table("acg_order_option", option_layout, [dict(id=1, order_id=1, option="{}")]),
        ],
        expected,
        secret_values,
    )


# ---- the four export shapes --------------------------------------------------------------------


def _wall(value) -> str | None:
    """How a MySQL client (session time zone = the server's, Asia/Shanghai) shows a value."""
    if value is None:
        return None
    if isinstance(value, datetime):
        return value.strftime("%Y-%m-%d %H:%M:%S")
    return str(value)


def _dumped(value, mysql_type: str) -> str | None:
    """How mysqldump writes a value: ``timestamp`` columns in UTC (its --tz-utc default)."""
    if isinstance(value, datetime) and mysql_type == "timestamp":
        value = value.replace(tzinfo=SHANGHAI).astimezone(UTC).replace(tzinfo=None)
    return _wall(value)


def _values(table: Table, convert) -> list[list[str | None]]:
    return [[convert(row.get(name), kind) for name, kind in table.layout] for row in table.rows]


def write_navicat(shop: Shop, folder: Path) -> None:
    """Navicat / DBeaver: header, empty for NULL, quotes only where needed, CRLF, UTF-8 BOM."""
    for table in shop.tables:
        text = io.StringIO()
        writer = csv.writer(text, lineterminator="\r\n")
        writer.writerow([name for name, _ in table.layout])
        for row in _values(table, lambda v, _: _wall(v)):
            writer.writerow(["" if v is None else v for v in row])
        (folder / f"{table.name}.csv").write_text(text.getvalue(), encoding="utf-8-sig")


def write_phpmyadmin(shop: Shop, folder: Path, header: bool = True) -> None:
    """phpMyAdmin CSV: every value quoted, NULL as the bare word NULL; acg-faka's as "CSV for
    MS Excel" with ``;``. With "Put columns names in the first row" on, or (its default) off."""
    delimiter = ";" if shop.source == "acg-faka" else ","

    def field(value: str | None) -> str:
        return "NULL" if value is None else '"' + value.replace('"', '""') + '"'

    for table in shop.tables:
        lines = [delimiter.join(field(name) for name, _ in table.layout)] if header else []
        lines += [delimiter.join(field(v) for v in row) for row in _values(table, _wall_typed)]
        (folder / f"{table.name}.csv").write_text("\n".join(lines) + "\n", encoding="utf-8")


def _wall_typed(value, _kind):
    return _wall(value)


_MYSQL_TYPES = {
    "timestamp": "timestamp NULL DEFAULT NULL",
    "datetime": "datetime NULL DEFAULT NULL",
}
_DUMP_HEADER = """-- MySQL dump 10.13  Distrib 8.0.36, for Linux (x86_64)
--
-- Host: localhost    Database: shop
-- ------------------------------------------------------
-- Server version\t8.0.36

/*!40101 SET @OLD_CHARACTER_SET_CLIENT=@@CHARACTER_SET_CLIENT */;
/*!50503 SET NAMES utf8mb4 */;
/*!40103 SET @OLD_TIME_ZONE=@@TIME_ZONE */;
/*!40103 SET TIME_ZONE='+00:00' */;
/*!40014 SET @OLD_UNIQUE_CHECKS=@@UNIQUE_CHECKS, UNIQUE_CHECKS=0 */;
"""
_DUMP_FOOTER = """/*!40103 SET TIME_ZONE=@OLD_TIME_ZONE */;
/*!40014 SET UNIQUE_CHECKS=@OLD_UNIQUE_CHECKS */;

-- Dump completed on 2024-03-20 12:00:00
"""


def _create_table(table: Table) -> str:
    columns = []
    for name, kind in table.layout:
        declared = _MYSQL_TYPES.get(kind, "varchar(255) DEFAULT NULL")
        if name == "id":
            declared = "int unsigned NOT NULL AUTO_INCREMENT"
        columns.append(f"  `{name}` {declared} COMMENT '{name};说明'")
    body = ",\n".join(columns + ["  PRIMARY KEY (`id`)", f"  KEY `idx_{table.name}` (`id`)"])
    return (
        f"DROP TABLE IF EXISTS `{table.name}`;\n"
        "/*!40101 SET @saved_cs_client     = @@character_set_client */;\n"
        f"CREATE TABLE `{table.name}` (\n{body}\n) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 "
        "COMMENT='表; -- 注释';\n"
        "/*!40101 SET character_set_client = @saved_cs_client */;\n"
    )


def _tab_field(value: str | None) -> str:
    if value is None:
        return "\\N"
    out = value.replace("\\", "\\\\").replace("\t", "\\\t").replace("\n", "\\\n")
    return out.replace("\0", "\\0")


def write_tab(shop: Shop, folder: Path) -> None:
    """``mysqldump --tab=DIR``: table.sql (CREATE TABLE) and table.txt (the server's SELECT ...
    INTO OUTFILE: tab-separated, LF, no header, \\N, backslash escapes)."""
    for table in shop.tables:
        (folder / f"{table.name}.sql").write_text(
            _DUMP_HEADER + "\n" + _create_table(table) + "\n" + _DUMP_FOOTER, encoding="utf-8"
        )
        lines = ["\t".join(_tab_field(v) for v in row) for row in _values(table, _dumped)]
        (folder / f"{table.name}.txt").write_text("".join(f"{line}\n" for line in lines))


def _sql_literal(value: str | None) -> str:
    if value is None:
        return "NULL"
    escaped = (
        value.replace("\\", "\\\\")
        .replace("'", "\\'")
        .replace('"', '\\"')
        .replace("\n", "\\n")
        .replace("\r", "\\r")
        .replace("\0", "\\0")
        .replace("\x1a", "\\Z")
    )
    return f"'{escaped}'"


def write_dump(shop: Shop, folder: Path) -> None:
    """A plain ``mysqldump shop > shop.sql``: extended INSERTs (here split in two statements
    per table, as --net-buffer-length does for big tables)."""
    parts = [_DUMP_HEADER]
    for table in shop.tables:
        parts.append(
            f"\n--\n-- Table structure for table `{table.name}`\n--\n\n{_create_table(table)}"
        )
        rows = [
            "(" + ",".join(_sql_literal(v) for v in row) + ")" for row in _values(table, _dumped)
        ]
        parts.append(f"\nLOCK TABLES `{table.name}` WRITE;\n")
        half = max(1, len(rows) // 2)
        for chunk in (rows[:half], rows[half:]):
            if chunk:
                parts.append(f"INSERT INTO `{table.name}` VALUES {','.join(chunk)};\n")
        parts.append("UNLOCK TABLES;\n")
    parts.append(_DUMP_FOOTER)
    (folder / "shop.sql").write_text("".join(parts), encoding="utf-8")


WRITERS = {
    "navicat": write_navicat,
    "phpmyadmin": write_phpmyadmin,
    "phpmyadmin_no_header": lambda shop, folder: write_phpmyadmin(shop, folder, header=False),
    "tab": write_tab,
    "dump": write_dump,
}
SHOPS = {"dujiaoka": dujiaoka_shop, "acg-faka": acg_shop}


def export(tmp_path: Path, source: str, shape: str) -> tuple[Shop, Path]:
    shop = SHOPS[source]()
    folder = tmp_path / f"{source}-{shape}"
    folder.mkdir()
    WRITERS[shape](shop, folder)
    return shop, folder


# ---- tests -----------------------------------------------------------------------------------


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("source", ["dujiaoka", "acg-faka"])
def test_every_export_shape_loads_all_40_orders(tmp_path, source, shape):
    shop, folder = export(tmp_path, source, shape)
    results = ingest(tmp_path, folder, source=source, merchant_id="shop-1")
    assert [r.error for r in results] == [None] * len(results)
    entities = sorted(r.entity for r in results)
    expected_entities = ["card_batches", "inventory", "orders", "skus"] + (
        ["merchants"] if source == "acg-faka" else []
    )
    assert entities == sorted(expected_entities)
    [orders] = [r for r in results if r.entity == "orders"]
    assert (orders.rows_read, orders.loaded, orders.quarantined) == (40, 40, 0)
    assert all(r.quarantined == 0 for r in results), [r.summary_line() for r in results]

    stored = query(
        tmp_path,
        "SELECT order_id, status, quantity, unit_price::VARCHAR, created_at FROM raw.orders "
        "ORDER BY order_id",
    )
    assert stored == sorted(shop.expected_orders)
    # The paid totals are kept to the fen (3 units paid 64.00 are 21.33 each, 64.00 in all).
    [order_table] = [t for t in shop.tables if t.name in ("orders", "acg_order")]
    total_column = "actual_price" if source == "dujiaoka" else "amount"
    paid = sum(Decimal(str(row[total_column])) for row in order_table.rows)
    assert query(tmp_path, "SELECT sum(paid_amount) FROM raw.orders") == [(paid,)]
    if source == "dujiaoka":  # coupons.* beside orders.* (or in the dump): codes, not ids
        used = sum(1 for row in order_table.rows if str(row["coupon_id"]) == "7")
        assert used and query(
            tmp_path, "SELECT coupon_code, count(*) FROM raw.orders GROUP BY 1 ORDER BY 1"
        ) == [("SPRING", used), (None, 40 - used)]
    skus = query(tmp_path, "SELECT sku_id, delivery_type, active FROM raw.skus ORDER BY 1")
    if source == "dujiaoka":
        assert skus == [
            ("1", "card_key", True),
            ("2", "direct_topup", True),
            ("3", "card_key", False),
        ]
    else:
        assert skus == [
            ("1", "card_key", True),
            ("2", "direct_topup", True),
            ("3", "card_key", False),
        ]
    # Unsold keys per goods: dujiaoka status 1 (keys 4-6 of goods 1, 7-8 of goods 3); acg-faka
    # status 0 (cards 4-6 of commodity 1, 7-8 of commodity 3; card 3 is locked).
    assert query(tmp_path, "SELECT sku_id, on_hand FROM raw.inventory ORDER BY 1") == [
        ("1", 3),
        ("3", 2),
    ]


@pytest.mark.parametrize("source", ["dujiaoka", "acg-faka"])
def test_the_four_shapes_hold_the_same_orders(tmp_path, source):
    loaded = {}
    for shape in SHAPES:
        _, folder = export(tmp_path, source, shape)
        home = tmp_path / shape
        home.mkdir()
        ingest(home, folder, source=source)
        # Each warehouse here is its own installation with its own secret, so buyer keys
        # differ between them; which orders share a buyer does not.
        loaded[shape] = query(
            home,
            "SELECT * EXCLUDE (_file_id, _line, _loaded_at, buyer_id, buyer_key, buyer_ip_key), "
            "min(order_id) OVER (PARTITION BY buyer_id), "
            "min(order_id) OVER (PARTITION BY buyer_ip_key) FROM raw.orders ORDER BY order_id",
        )
    assert len(loaded["navicat"]) == 40
    for shape in SHAPES[1:]:
        assert loaded[shape] == loaded["navicat"], shape


def test_acg_faka_seller_is_the_sub_site_else_the_goods_owner(tmp_path):
    shop, folder = export(tmp_path, "acg-faka", "dump")
    ingest(tmp_path, folder, source="acg-faka")
    [orders] = [t for t in shop.tables if t.name == "acg_order"]
    expected: dict[str, int] = {}
    for row in orders.rows:
        seller = str(row["substation_user_id"] or row["user_id"])
        expected[seller] = expected.get(seller, 0) + 1
    assert set(expected) == {"0", "1000", "1001"}
    assert (
        dict(query(tmp_path, "SELECT merchant_id, count(*) FROM raw.orders GROUP BY 1")) == expected
    )


def _all_text(tmp_path: Path) -> str:
    """Every text value the warehouse holds, in every raw table, the quarantine included."""
    columns = query(
        tmp_path,
        "SELECT table_schema, table_name, column_name FROM information_schema.columns "
        "WHERE data_type = 'VARCHAR'",
    )
    texts = []
    for schema, table, column in columns:
        texts += [
            row[0]
            for row in query(
                tmp_path,
                f'SELECT "{column}" FROM "{schema}"."{table}" WHERE "{column}" IS NOT NULL',
            )
        ]
    return "\n".join(texts).lower()


@pytest.mark.parametrize("shape", ["navicat", "tab", "dump"])
def test_no_card_secret_contact_or_ip_is_stored_quarantine_included(tmp_path, shape):
    shop, folder = export(tmp_path, "dujiaoka", shape)
    # Two orders go to quarantine: an unknown status code, and (CSV, --tab) a broken line.
    bad = dict(dujiaoka_shop().tables[-1].rows[0])
    bad.update(
        id=99,
        order_sn="DBAD",
        status=7,
        email="leak@example.com",
        buy_ip="10.9.9.9",
        info=_card_secret(999),
    )
    table = Table("orders", DUJIAOKA_LAYOUTS["orders"], [bad])
    if shape == "navicat":
        text = io.StringIO()
        csv.writer(text, lineterminator="\r\n").writerow(
            ["" if v is None else v for v in _values(table, lambda v, _: _wall(v))[0]]
        )
        with (folder / "orders.csv").open("a", encoding="utf-8", newline="") as handle:
            handle.write(text.getvalue() + '1,"broken,leak2@example.com,KEY-998-SECRET\r\n')
    elif shape == "tab":
        with (folder / "orders.txt").open("a", encoding="utf-8") as handle:
            row = _values(table, _dumped)[0]
            handle.write("\t".join(_tab_field(v) for v in row) + "\n")
            handle.write("broken\tleak2@example.com\t" + _tab_field(_card_secret(998)) + "\n")
    else:
        dump = folder / "shop.sql"
        row = "(" + ",".join(_sql_literal(v) for v in _values(table, _dumped)[0]) + ")"
        dump.write_text(
            dump.read_text().replace(
                "UNLOCK TABLES;\n/*!40103",
                f"INSERT INTO `orders` VALUES {row};\nUNLOCK TABLES;\n/*!40103",
            )
        )
    results = ingest(tmp_path, folder, source="dujiaoka")
    [orders] = [r for r in results if r.entity == "orders"]
    broken = 0 if shape == "dump" else 1
    assert (orders.rows_read, orders.loaded, orders.quarantined) == (41 + broken, 40, 1 + broken)
    reasons = query(tmp_path, "SELECT line, reason, raw_text FROM raw.quarantine ORDER BY line")
    assert any("dujiaoka status '7'" in reason for _, reason, _ in reasons)
    assert all(line > 0 for line, _, _ in reasons)

    stored = _all_text(tmp_path)
    secrets = shop.secrets + ["leak@example.com", "10.9.9.9", "leak2@example.com"]
    secrets += [_card_secret(999), _card_secret(998), "KEY-998-SECRET"]
    for value in secrets:
        for part in value.lower().splitlines():
            assert part.strip() not in stored, part

    # The buyer key is an HMAC with this installation's secret (0600), not an unsalted md5.
    secret_file = tmp_path / "buyer_key.secret"
    assert stat.S_IMODE(os.stat(secret_file).st_mode) == 0o600
    import hashlib
    import hmac

    secret = bytes.fromhex(secret_file.read_text().strip())
    email = "buyer0@example.com"
    keyed = hmac.new(secret, email.encode(), hashlib.sha256).hexdigest()[:16]
    assert query(tmp_path, "SELECT buyer_id FROM raw.orders WHERE order_id = 'D2024030100000'") == [
        (f"email:{keyed}",)
    ]
    assert f"email:{hashlib.md5(email.encode()).hexdigest()[:16]}" not in stored


def test_mysqldump_statements_stream_with_quotes_comments_and_line_numbers(tmp_path):
    dump = tmp_path / "x.sql"
    dump.write_text(
        "-- header; not a statement\n/*!40103 SET TIME_ZONE='+00:00' */;\n"
        "INSERT INTO `t` VALUES (1,'a;b\\'c -- d'),\n(2,'x\"y');\n# comment\nSELECT 1"
    )
    state = mysqldump.DumpState()
    found = list(mysqldump.statements(dump, state))
    assert state.tz_utc
    assert found == [
        (3, "INSERT INTO `t` VALUES (1,'a;b\\'c -- d'),\n(2,'x\"y')"),
        (6, "SELECT 1"),
    ]


def test_dump_variants_column_lists_replace_and_no_create_table(tmp_path):
    """phpMyAdmin's SQL export names the columns in each INSERT; ``mysqldump --replace`` writes
    REPLACE INTO; a data-only dump (``--no-create-info``) has no CREATE TABLE, so the known
    layout is used; a row of the wrong width is quarantined with its row number."""
    orders = [name for name, _ in DUJIAOKA_LAYOUTS["orders"]]
    row = dict(zip(orders, [None] * len(orders), strict=True))
    row.update(
        order_sn="D1",
        goods_id="1",
        buy_amount="2",
        actual_price="19.60",
        status="4",
        email="x@example.com",
        created_at="2024-03-01 02:00:00",
    )
    values = ",".join(_sql_literal(row[c]) for c in orders)
    listed = ",".join(
        f"`{c}`"
        for c in ("order_sn", "goods_id", "buy_amount", "actual_price", "status", "created_at")
    )
    dump = tmp_path / "shop.sql"
    dump.write_text(
        # no SET TIME_ZONE: times are wall time
        f"REPLACE INTO `orders` VALUES ({values});\n"
        f"INSERT INTO `orders` ({listed}) VALUES ('D2','2','1','6.00','2','2024-03-02 10:00:00');\n"
        "INSERT INTO `orders` VALUES ('D3','1');\n"
    )
    [result] = ingest(tmp_path, dump, source="dujiaoka")
    assert (result.rows_read, result.loaded, result.quarantined) == (3, 2, 1)
    assert query(
        tmp_path,
        "SELECT order_id, status, unit_price::VARCHAR, created_at::VARCHAR FROM raw.orders",
    ) == [
        ("D1", "delivered", "9.80", "2024-03-01 02:00:00"),
        ("D2", "paid", "6.00", "2024-03-02 10:00:00"),
    ]
    assert query(tmp_path, "SELECT line, reason FROM raw.quarantine") == [
        (
            3,
            "unparseable row (INSERT row has 2 values, the table has a known layout "
            "(no CREATE TABLE for it in the dump?))",
        )
    ]


def test_txt_files_with_a_header_stay_csv_and_without_one_use_the_known_layout(tmp_path):
    shop, folder = export(tmp_path, "acg-faka", "tab")
    for definition in folder.glob("*.sql"):
        definition.unlink()  # only the .txt files: the known layout applies
    (folder / "acg_user.txt").write_text(
        "id,username,pid,create_time\n1000,总站商户,0,2023-12-01 09:00:00\n"
    )
    results = ingest(tmp_path, folder, source="acg-faka")
    assert [(r.source_table, r.rows_read, r.quarantined, r.error) for r in results] == [
        ("user", 1, 0, None),
        ("commodity", 3, 0, None),
        ("card", 8, 0, None),
        ("card", 8, 0, None),
        ("order", 40, 0, None),
    ]
    assert query(tmp_path, "SELECT count(*) FROM raw.orders") == [(40,)]


def test_a_headerless_txt_of_another_width_is_one_clear_error(tmp_path):
    folder = tmp_path / "export"
    folder.mkdir()
    (folder / "orders.txt").write_text("1\tD1\t1\n")
    [result] = ingest(tmp_path, folder, source="dujiaoka")
    assert result.error == (
        "tab-separated without header and 3 fields, not the 23 columns of orders; "
        "put its .sql from mysqldump --tab beside it"
    )


@pytest.mark.parametrize("chunk_bytes", [1, 2, 3, 7, 64])
def test_reading_does_not_depend_on_where_the_file_is_cut_into_chunks(
    tmp_path, monkeypatch, chunk_bytes
):
    """The dump scanner and the --tab reader stream the file in chunks: a chunk may end inside
    a string, an escape, a comment marker or a multi-byte character."""
    shop = dujiaoka_shop()
    write_dump(shop, tmp_path)
    write_tab(shop, tmp_path)
    dump = tmp_path / "shop.sql"
    dump.write_text(dump.read_text() + "-- tail; comment\n/* block; */ SELECT 'a''b;c' -- x\n;\n")
    whole = list(mysqldump.statements(dump))
    tab = list(mysqldump._tab_records(tmp_path / "orders.txt"))
    monkeypatch.setattr("pipelines.ingest.reading.CHUNK_BYTES", chunk_bytes)
    assert list(mysqldump.statements(dump)) == whole
    assert list(mysqldump._tab_records(tmp_path / "orders.txt")) == tab
    assert whole[-1][1] == "SELECT 'a''b;c'"
    assert len(tab) == 40 and tab[0][1][14] == _card_secret(100)


def test_a_csv_whose_first_line_is_neither_header_nor_known_layout_names_missing_columns(
    tmp_path,
):
    folder = tmp_path / "export"
    folder.mkdir()
    (folder / "orders.csv").write_text("order_sn,goods_id\nD1,1\n")
    [result] = ingest(tmp_path, folder, source="dujiaoka")
    assert result.error.startswith("missing required column(s): buy_amount, actual_price")
