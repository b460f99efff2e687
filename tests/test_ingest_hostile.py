"""A hostile corpus: exports that no one here wrote, each through the real `cardpulse ingest`.

Every case asserts the exit code, the line the user reads, the balance of the counts in the
ledger (rows read = loaded + updated + duplicate + quarantined) and the rows that reached
`raw.*`. The accepted cases are then built together with a tiny platform: nothing ingest
accepts may break `cardpulse build` (one build for the whole group).
"""

from __future__ import annotations

import codecs
import datetime as dt
import gzip
from dataclasses import dataclass, field
from pathlib import Path
from zoneinfo import ZoneInfo

import duckdb
import pytest

from pipelines.cli import main

ORDER_HEADER = "order_id,created_at,merchant_id,sku_id,quantity,unit_price,status,region_code"
SKU_HEADER = (
    "sku_id,name,category,brand,face_value,delivery_type,supplier_id,shelf_life_days,active"
)
SUPPLIER_HEADER = "supplier_id,name,lead_time_hours,min_order_qty,batch_size"
BALANCE_HEADER = "as_of,supplier_id,balance"
EVENT_HEADER = "name,start_date,end_date,scope"
MERCHANT_HEADER = "merchant_id,name,tier,parent_merchant_id,region_code,joined_at"
NOW = dt.datetime.now(ZoneInfo("Asia/Shanghai")).replace(tzinfo=None)


def order(oid="O1", created="2025-03-01 10:00:00", sku="S1", qty="1", price="9.90", **kw) -> str:
    merchant = kw.get("merchant", "M1")
    status = kw.get("status", "paid")
    region = kw.get("region", "CN-GD")
    return f"{oid},{created},{merchant},{sku},{qty},{price},{status},{region}"


def sku(sku_id="S1", name="Steam 100", shelf="", active="true", supplier="SUP1") -> str:
    return f"{sku_id},{name},game_card,Steam,100,card_key,{supplier},{shelf},{active}"


def text(*lines: str, end: str = "\n") -> str:
    return end.join(lines) + end


def _parquet(columns: dict[str, list]) -> bytes:
    import io

    import pyarrow as pa
    import pyarrow.parquet as pq

    buffer = io.BytesIO()
    pq.write_table(pa.table(columns), buffer)
    return buffer.getvalue()


@dataclass
class Case:
    """One hostile input. ``files``: name -> text (UTF-8) or bytes, loaded as one folder."""

    id: str
    files: dict[str, str | bytes]
    args: tuple[str, ...] = ()
    exit: int = 0
    message: str = ""
    # (rows_read, loaded, updated, duplicate, quarantined) of the file named last in files.
    counts: tuple[int, int, int, int, int] | None = None
    sql: str | None = None
    rows: list[tuple] | None = None
    build: bool = True
    extra: dict = field(default_factory=dict)


CASES: list[Case] = []


def case(*args, **kwargs) -> None:
    CASES.append(Case(*args, **kwargs))


STORED_AT = "SELECT strftime(created_at, '%Y-%m-%d %H:%M') FROM raw.orders"

# --- times: zone words, offsets, poisoned values -------------------------------------------
for name, value, stored in [
    ("plain", "2025-03-01 10:00:00", "2025-03-01 10:00"),
    ("iso_t", "2025-03-01T10:00:00", "2025-03-01 10:00"),
    ("offset_8", "2025-03-01T10:00:00+08:00", "2025-03-01 10:00"),
    ("zulu", "2025-03-01T02:00:00Z", "2025-03-01 10:00"),
    ("utc_word", "2025-03-01 02:00:00 UTC", "2025-03-01 10:00"),
    ("cst_is_china", "2025-03-01 10:00:00 CST", "2025-03-01 10:00"),
    ("cst_lower", "2025-03-01 10:00:00 cst", "2025-03-01 10:00"),
    ("asia_shanghai", "2025-03-01 10:00:00 Asia/Shanghai", "2025-03-01 10:00"),
    ("beijing", "2025-03-01 10:00:00 Beijing", "2025-03-01 10:00"),
    ("offset_minus5", "2025-03-01 10:00:00-05:00", "2025-03-01 23:00"),
    ("offset_after_space", "2025-03-01 10:00:00 +0800", "2025-03-01 10:00"),  # PHP's 'O'
    ("offset_after_space_utc", "2025-03-01 02:00 +00:00", "2025-03-01 10:00"),
    ("slashes_unpadded", "2025/3/1 10:00", "2025-03-01 10:00"),  # Excel's CSV in zh-CN
    ("date_only", "2025-03-01", "2025-03-01 00:00"),
    ("spaces", "  2025-03-01 10:00:00 ", "2025-03-01 10:00"),
    ("tomorrow", (NOW + dt.timedelta(days=1)).strftime("%Y-%m-%d %H:%M:%S"), None),
]:
    case(
        f"time_ok_{name}",
        {"orders.csv": text(ORDER_HEADER, order(created=value))},
        counts=(1, 1, 0, 0, 0),
        sql=STORED_AT if stored else None,
        rows=[(stored,)] if stored else None,
    )

for name, value, reason in [
    ("pst", "2025-03-01 10:00:00 PST", "time zone word PST"),
    ("est", "2025-03-01 10:00:00 EST", "time zone word EST"),
    ("london", "2025-03-01 10:00:00 Europe/London", "time zone word Europe/London"),
    ("infinity", "infinity", "after this ingest run"),
    ("minus_infinity", "-infinity", "before 2000-01-01"),
    ("epoch", "epoch", "before 2000-01-01"),
    ("nan", "NaN", "is not an ISO 8601 timestamp"),
    ("year_1999", "1999-12-31 23:59:59", "before 2000-01-01"),
    ("year_2099", "2099-12-31", "after this ingest run"),
    ("year_9999", "9999-12-31 23:59:59", "after this ingest run"),
    ("three_days_ahead", (NOW + dt.timedelta(days=3)).strftime("%Y-%m-%d"), "after this"),
    ("feb_30", "2025-02-30 10:00:00", "is not an ISO 8601 timestamp"),
    ("day_first", "31/12/2025 10:00", "is not an ISO 8601 timestamp"),
]:
    case(
        f"time_bad_{name}",
        {"orders.csv": text(ORDER_HEADER, order(created=value), order("O2"))},
        counts=(2, 1, 0, 0, 1),
        sql="SELECT line, column_name, reason LIKE '%' || ? || '%' FROM raw.quarantine",
        rows=[(2, "created_at", True)],
        extra={"params": [reason]},
    )

# --- money, quantities and their product ----------------------------------------------------
for name, price, ok in [
    ("two_decimals", "9.90", True),
    ("one_decimal", "9.9", True),
    ("spaced", " 9.90 ", True),
    ("largest", "9999999999999999.99", True),
    ("three_decimals", "9.999", False),
    ("comma_decimal", "1,50", False),
    ("yuan_sign", "¥5", False),
    ("nan", "NaN", False),
    ("inf", "inf", False),
    ("infinity", "Infinity", False),
    ("negative", "-1", False),
    ("seventeen_digits", "99999999999999999", False),
    ("exponent", "1e3", False),
]:
    line = order(price=f'"{price}"' if "," in price else price)
    case(
        f"price_{'ok' if ok else 'bad'}_{name}",
        {"orders.csv": text(ORDER_HEADER, line)},
        counts=(1, 1, 0, 0, 0) if ok else (1, 0, 0, 0, 1),
        sql="SELECT count(*) FROM raw.orders",
        rows=[(1 if ok else 0,)],
    )

for name, qty, stored in [
    ("float_whole", "180.0", 180),
    ("float_whole_00", "3.00", 3),
    ("spaced", " 7 ", 7),
    ("fraction", "2.5", None),
    ("zero", "0", None),
    ("negative", "-3", None),
    ("word", "abc", None),
    ("int_overflow", "2147483648", None),
    ("nan", "NaN", None),
]:
    case(
        f"quantity_{name}",
        {"orders.csv": text(ORDER_HEADER, order(qty=qty))},
        counts=(1, 1, 0, 0, 0) if stored else (1, 0, 0, 0, 1),
        sql="SELECT quantity FROM raw.orders",
        rows=[(stored,)] if stored else [],
    )

case(
    "product_beyond_decimal",
    {"orders.csv": text(ORDER_HEADER, order(qty="2147483647", price="9999999999999999.99"))},
    counts=(1, 0, 0, 0, 1),
    sql="SELECT reason FROM raw.quarantine",
    rows=[("quantity x price is beyond the largest amount (DECIMAL(18, 2))",)],
)
case(
    "product_twice_the_largest",
    {"orders.csv": text(ORDER_HEADER, order(qty="2", price="9999999999999999.99"), order("O2"))},
    counts=(2, 1, 0, 0, 1),
)
case(
    "product_large_but_fits",
    {"orders.csv": text(ORDER_HEADER, order(qty="1000", price="99999.99"))},
    counts=(1, 1, 0, 0, 0),
)

# --- SKU master: pandas floats, booleans, shelf life -----------------------------------------
for value, stored in [
    ("1", True),
    ("0", False),
    ("yes", True),
    ("no", False),
    ("Y", True),
    ("N", False),
    ("是", True),
    ("否", False),
    ("TRUE", True),
    ("False", False),
    (" true ", True),
]:
    case(
        f"active_{value.strip() or 'blank'}_{int(stored)}",
        {"skus.csv": text(SKU_HEADER, sku(active=value))},
        counts=(1, 1, 0, 0, 0),
        sql="SELECT active FROM raw.skus",
        rows=[(stored,)],
        message="" if value.strip().lower() in ("true", "false") else "normalised",
    )
case(
    "active_empty_in_parquet_takes_the_default_and_normalises_nothing",
    {"skus.parquet": _parquet({"sku_id": ["S1"], "category": ["game_card"],
                               "delivery_type": ["card_key"], "active": [""]})},
    counts=(1, 1, 0, 0, 0),
    sql="SELECT active FROM raw.skus",
    rows=[(True,)],
    extra={"absent": "normalised"},
)  # fmt: skip
for value in ("maybe", "2"):
    case(
        f"active_bad_{value}",
        {"skus.csv": text(SKU_HEADER, sku(active=value), sku("S2"))},
        counts=(2, 1, 0, 0, 1),
    )
for name, value, stored in [
    ("pandas_float", "180.0", 180),
    ("empty", "", None),
    ("spaced", " 30 ", 30),
    ("fraction", "180.5", "bad"),
    ("inf", "inf", "bad"),
]:
    bad = stored == "bad"
    case(
        f"shelf_life_{name}",
        {"skus.csv": text(SKU_HEADER, sku(shelf=value))},
        counts=(1, 0, 0, 0, 1) if bad else (1, 1, 0, 0, 0),
        sql="SELECT shelf_life_days FROM raw.skus",
        rows=[] if bad else [(stored,)],
    )
case(
    "pandas_sku_master_keeps_its_orders",
    {
        "skus.csv": text(SKU_HEADER, sku("S1", shelf="180.0"), sku("S2", shelf="365.0")),
        "orders.csv": text(ORDER_HEADER, order("O1", sku="S1"), order("O2", sku="S2")),
    },
    counts=(2, 2, 0, 0, 0),
    sql="SELECT sku_id, shelf_life_days FROM raw.skus ORDER BY 1",
    rows=[("S1", 180), ("S2", 365)],
)

# --- suppliers, balances, events ----------------------------------------------------------
for name, value, ok in [
    ("nan", "NaN", False),
    ("inf", "inf", False),
    ("infinity", "-Infinity", False),
    ("negative", "-1", False),
    ("fraction", "24.5", True),
]:
    case(
        f"lead_time_{name}",
        {"suppliers.csv": text(SUPPLIER_HEADER, f"SUP1,Card House,{value},10,10")},
        counts=(1, 1, 0, 0, 0) if ok else (1, 0, 0, 0, 1),
    )
case(
    "balance_negative",
    {"supplier_balances.csv": text(BALANCE_HEADER, "2025-03-01,SUP1,-5.00", "2025-03-01,S2,10")},
    counts=(2, 1, 0, 0, 1),
    sql="SELECT reason FROM raw.quarantine",
    rows=[("balance '-5.00' is below 0",)],
)
for name, start, end, ok in [
    ("future_event", "2027-02-10", "2027-02-17", True),
    ("infinity", "infinity", "2027-01-01", False),
    ("beyond_2099", "2150-01-01", "2150-01-02", False),
    ("before_2000", "1999-01-01", "1999-01-02", False),
    ("end_before_start", "2025-02-10", "2025-02-01", False),
]:
    case(
        f"event_{name}",
        {"events.csv": text(EVENT_HEADER, f"Launch,{start},{end},all")},
        counts=(1, 1, 0, 0, 0) if ok else (1, 0, 0, 0, 1),
    )

# --- CSV shapes the sniffer gets wrong -------------------------------------------------------
STRAY = 'iPad 10.9" 64GB'
case(
    "stray_quote_and_blank_line",
    {
        "orders.csv": text(
            ORDER_HEADER,
            order("O1"),
            order("O2", sku=STRAY),
            "",
            *[order(f"O{i}") for i in range(3, 6)],
        )
    },
    counts=(5, 5, 0, 0, 0),
    sql="SELECT order_id, sku_id, _line FROM raw.orders WHERE order_id IN ('O2', 'O5') ORDER BY 1",
    rows=[("O2", STRAY, 3), ("O5", "S1", 7)],
)
FIVE_AFTER_STRAY = [order("O1", sku=STRAY), *[order(f"O{i}") for i in range(2, 6)]]
case(
    "stray_quote_and_trailing_blank_line",
    {"orders.csv": text(ORDER_HEADER, *FIVE_AFTER_STRAY) + "\n"},
    counts=(5, 5, 0, 0, 0),
)
case(
    "stray_quote_and_multiline_field",
    {"skus.csv": text(SKU_HEADER, sku("S1", name=STRAY), sku("S2", name='"two\nlines"'),
                      sku("S3"), sku("S4"), sku("S5"))},
    counts=(5, 5, 0, 0, 0),
    sql="SELECT sku_id, name, _line FROM raw.skus ORDER BY 1",
    rows=[("S1", STRAY, 2), ("S2", "two\nlines", 3), ("S3", "Steam 100", 5),
          ("S4", "Steam 100", 6), ("S5", "Steam 100", 7)],
)  # fmt: skip
case(
    "open_quote_to_end_of_file",
    {"orders.csv": text(ORDER_HEADER, order("O1"), order("O2", sku='"never closed'),
                        order("O3"), order("O4"))},
    counts=(4, 3, 0, 0, 1),
    sql="SELECT line, reason FROM raw.quarantine",
    rows=[(3, "unparseable CSV line (unterminated quote)")],
)  # fmt: skip
case(
    "quote_closed_mid_field",
    {"orders.csv": text(ORDER_HEADER, order("O1", sku='"S1"x'), order("O2"))},
    counts=(2, 1, 0, 0, 1),
)
case(
    "mixed_crlf_and_lf",
    {"orders.csv": ORDER_HEADER + "\r\n" + order("O1") + "\n" + order("O2") + "\r\n"
     + order("O3") + "\n"},
    counts=(3, 3, 0, 0, 0),
    sql="SELECT order_id, _line FROM raw.orders ORDER BY 1",
    rows=[("O1", 2), ("O2", 3), ("O3", 4)],
)  # fmt: skip
case(
    "crlf_only",
    {"orders.csv": text(ORDER_HEADER, order("O1"), order("O2"), end="\r\n")},
    counts=(2, 2, 0, 0, 0),
)
case(
    "cr_only",
    {"orders.csv": text(ORDER_HEADER, order("O1"), order("O2"), end="\r")},
    counts=(2, 2, 0, 0, 0),
)
case(
    "too_many_fields",
    {"orders.csv": text(ORDER_HEADER, order("O1") + ",extra", order("O2"))},
    counts=(2, 1, 0, 0, 1),
)
case(
    "too_few_fields",
    {"orders.csv": text(ORDER_HEADER, "O1,2025-03-01", order("O2"))},
    counts=(2, 1, 0, 0, 1),
)
case(
    "blank_lines_everywhere",
    {"orders.csv": "\n".join([ORDER_HEADER, "", order("O1"), "", "", order("O2"), ""]) + "\n\n"},
    counts=(2, 2, 0, 0, 0),
    sql="SELECT _line FROM raw.orders ORDER BY 1",
    rows=[(3,), (6,)],
)
case(
    "semicolons_and_quotes",
    {"orders.csv": text(ORDER_HEADER.replace(",", ";"), order("O1").replace(",", ";"),
                        '"O2";"2025-03-01 10:00:00";"M1";"S1";"1";"9.90";"paid";"CN-GD"')},
    counts=(2, 2, 0, 0, 0),
)  # fmt: skip
case(
    "phpmyadmin_null_words_in_optional_columns",
    {"orders.csv": text(ORDER_HEADER + ",paid_at", order("O1") + ",")},
    counts=(1, 1, 0, 0, 0),
)

# A record over the line limit costs that record only: generated, 65 MiB.
HUGE = "x" * (65 << 20)
case(
    "a_65_mib_line_costs_only_itself",
    {"orders.csv": text(ORDER_HEADER, order("O1"), order("O2", sku=HUGE), order("O3"))},
    counts=(3, 2, 0, 0, 1),
    sql="SELECT line, reason LIKE '%longer than 64 MiB%', length(raw_text) <= 2000 "
    "FROM raw.quarantine",
    rows=[(3, True, True)],
)

# --- encodings ----------------------------------------------------------------------------
REGION_ROWS = text(ORDER_HEADER, order("O1", region="廣東"), order("O2", region="臺灣"),
                   order("O3", region="北京"), order("O4", region="騰訊充值"))  # fmt: skip
case(
    "big5_detected",
    {"orders.csv": REGION_ROWS.encode("big5")},
    counts=(4, 4, 0, 0, 0),
    message="read as BIG5",
    sql="SELECT region_code FROM raw.orders ORDER BY order_id",
    rows=[("CN-GD",), ("CN-TW",), ("CN-BJ",), ("UNKNOWN",)],
)
SIMPLIFIED = text(ORDER_HEADER, order("O1", region="广东省"), order("O2", region="内蒙古自治区"),
                  order("O3", region="北京"), order("O4", sku="腾讯Q币卡"))  # fmt: skip
case(
    "gb18030_detected",
    {"orders.csv": SIMPLIFIED.encode("gb18030")},
    counts=(4, 4, 0, 0, 0),
    message="read as GB18030",
    sql="SELECT region_code FROM raw.orders ORDER BY order_id",
    rows=[("CN-GD",), ("CN-NM",), ("CN-BJ",), ("CN-GD",)],
)
case(
    "big5_named",
    {"orders.csv": text(ORDER_HEADER, order("O1", region="廣東")).encode("big5")},
    args=("--encoding", "big5"),
    counts=(1, 1, 0, 0, 0),
    sql="SELECT region_code FROM raw.orders",
    rows=[("CN-GD",)],
)
case(
    "utf16_with_bom",
    {"orders.csv": SIMPLIFIED.encode("utf-16")},
    counts=(4, 4, 0, 0, 0),
    message="read as UTF-16",
)
case(
    "utf16_named",
    {"orders.csv": SIMPLIFIED.encode("utf-16-le")},
    args=("--encoding", "utf-16-le"),
    counts=(4, 4, 0, 0, 0),
)
case(
    "utf16_without_bom_or_name",
    {"orders.csv": SIMPLIFIED.encode("utf-16-le")},
    exit=1,
    message="NUL bytes found",
    build=False,
)
case(
    "utf8_bom",
    {"orders.csv": codecs.BOM_UTF8 + SIMPLIFIED.encode("utf-8")},
    counts=(4, 4, 0, 0, 0),
)
case(
    "utf8_named_but_gbk",
    {"orders.csv": SIMPLIFIED.encode("gbk")},
    args=("--encoding", "utf-8"),
    exit=1,
    message="cannot decode as utf-8",
    build=False,
)
case(
    "unknown_encoding",
    {"orders.csv": SIMPLIFIED},
    args=("--encoding", "klingon"),
    exit=1,
    message="unknown encoding 'klingon'",
    build=False,
)

# --- files that cannot be read at all (fail alone, one line) ---------------------------------
for name, content, message in [
    ("empty", b"", "empty file"),
    ("blank_lines_only", b"\n\n\n", "empty file"),
    ("binary", b"PAR1\x00\x00\x01\x02binary", "NUL bytes found"),
    ("missing_column", text("order_id,created_at", "O1,2025-03-01"), "missing required column"),
    ("same_column_twice", text(ORDER_HEADER + ",status", order() + ",paid"), "appears twice"),
]:
    case(f"unreadable_{name}", {"orders.csv": content}, exit=1, message=message, build=False)
case(
    "truncated_gzip",
    {"orders.csv.gz": gzip.compress(SIMPLIFIED.encode())[:-20]},
    exit=1,
    message="gzip",
    build=False,
)
case(
    "header_only",
    {"orders.csv": text(ORDER_HEADER)},
    counts=(0, 0, 0, 0, 0),
)
case(
    "json_lines_with_infinity",
    {"orders.jsonl": '{"order_id": "O1", "created_at": "infinity", "merchant_id": "M1", '
     '"sku_id": "S1", "quantity": 1, "unit_price": 9.9, "status": "paid"}\n'
     '{"order_id": "O2", "created_at": "2025-03-01", "merchant_id": "M1", "sku_id": "S1", '
     '"quantity": 1, "unit_price": 9.9, "status": "paid"}\n'},
    counts=(2, 1, 0, 0, 1),
)  # fmt: skip

# --- late-arriving master data -------------------------------------------------------------
case(
    "order_of_unknown_sku_is_loaded",
    {"skus.csv": text(SKU_HEADER, sku("S1")),
     "orders.csv": text(ORDER_HEADER, order("O1", sku="S1"), order("O2", sku="S-NEW"))},
    counts=(2, 2, 0, 0, 0),
    message="1 SKU not in skus yet, inferred: S-NEW",
)  # fmt: skip
case(
    "order_of_unknown_merchant_once_merchants_exist",
    {"merchants.csv": text(MERCHANT_HEADER, "M1,Main,gold,,CN-GD,2024-01-01"),
     "orders.csv": text(ORDER_HEADER, order("O1"), order("O2", merchant="M-NEW"))},
    counts=(2, 2, 0, 0, 0),
    message="1 merchant not in merchants yet, inferred: M-NEW",
)  # fmt: skip
case(
    "sku_of_unknown_supplier_once_suppliers_exist",
    {"suppliers.csv": text(SUPPLIER_HEADER, "SUP1,Card House,24,10,10"),
     "skus.csv": text(SKU_HEADER, sku("S1"), sku("S2", supplier="SUP-NEW"))},
    counts=(2, 2, 0, 0, 0),
    message="1 supplier not in suppliers yet, inferred: SUP-NEW",
)  # fmt: skip

# --- saying it loudly ------------------------------------------------------------------------
TEN_ORDERS = [order(f"O{i}") for i in range(1, 10)]
case(
    "warning_above_five_percent",
    {"orders.csv": text(ORDER_HEADER, *TEN_ORDERS, order("O10", qty="0"))},
    counts=(10, 9, 0, 0, 1),
    message="warning: orders.csv: 1 of 10 rows (10.0%) quarantined; most often (1): quantity",
)
case(
    "no_warning_at_five_percent",
    {"orders.csv": text(ORDER_HEADER, *[order(f"O{i}") for i in range(1, 20)],
                        order("O20", qty="0"))},
    counts=(20, 19, 0, 0, 1),
    extra={"absent": "warning"},
)  # fmt: skip
case(
    "max_quarantine_pct_refuses_the_file",
    {"orders.csv": text(ORDER_HEADER, order("O1"), order("O2", qty="0"))},
    args=("--max-quarantine-pct", "10"),
    exit=1,
    message="1 of 2 rows (50.0%) quarantined; most often (1): quantity '0' is below 1; "
    "above --max-quarantine-pct 10",
    sql="SELECT (SELECT count(*) FROM raw.orders) + (SELECT count(*) FROM raw.quarantine)",
    rows=[(0,)],
    build=False,
)
case(
    "max_quarantine_pct_allows_below",
    {"orders.csv": text(ORDER_HEADER, *TEN_ORDERS, order("O10", qty="0"))},
    args=("--max-quarantine-pct", "20"),
    counts=(10, 9, 0, 0, 1),
)
case(
    "max_quarantine_pct_not_a_number",
    {"orders.csv": text(ORDER_HEADER, order("O1"))},
    args=("--max-quarantine-pct", "lots"),
    exit=2,
    message="'lots' is not a number",
    build=False,
)
case(
    "max_quarantine_pct_out_of_range",
    {"orders.csv": text(ORDER_HEADER, order("O1"))},
    args=("--max-quarantine-pct", "150"),
    exit=2,
    message="150 is not between 0 and 100",
    build=False,
)


def _write_case(folder: Path, item: Case, suffix: str = "") -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for name, content in item.files.items():
        stem, dot, ext = name.partition(".")
        path = folder / f"{stem}{suffix}{dot}{ext}"
        if isinstance(content, str):
            path.write_bytes(content.encode("utf-8"))
        else:
            path.write_bytes(content)
        paths.append(path)
    return paths


def _ledger(warehouse: Path, name: str) -> tuple | None:
    conn = duckdb.connect(str(warehouse), read_only=True)
    try:
        unbalanced = conn.execute(
            "SELECT count(*) FROM raw.file_ledger "
            "WHERE rows_read <> loaded + updated + duplicate + quarantined"
        ).fetchone()[0]
        assert unbalanced == 0
        return conn.execute(
            """SELECT rows_read, loaded, updated, duplicate, quarantined FROM raw.file_ledger
               WHERE parse_filename(file_path) = ?""",
            [name],
        ).fetchone()
    finally:
        conn.close()


assert len(CASES) >= 80, len(CASES)


@pytest.mark.parametrize("item", CASES, ids=[c.id for c in CASES])
def test_hostile_input(item: Case, tmp_path, monkeypatch, capsys):
    home = tmp_path / "home"
    monkeypatch.setenv("CARDPULSE_HOME", str(home))
    _write_case(tmp_path / "landing", item)
    if item.exit == 2:  # argparse refuses the flag: one usage line, exit 2
        with pytest.raises(SystemExit) as stopped:
            main(["ingest", str(tmp_path / "landing"), *item.args])
        assert stopped.value.code == 2
    else:
        assert main(["ingest", str(tmp_path / "landing"), *item.args]) == item.exit
    out, err = capsys.readouterr()
    said = out + err
    assert "Traceback" not in said
    assert item.message in said, said
    if item.exit == 1:
        errors = [line for line in err.splitlines() if "error" in line]
        assert len(errors) == 1, err
    if "absent" in item.extra:
        assert item.extra["absent"] not in said
    warehouse = home / "warehouse.duckdb"
    if item.counts is not None:
        assert _ledger(warehouse, list(item.files)[-1]) == item.counts
    if item.sql is not None:
        conn = duckdb.connect(str(warehouse), read_only=True)
        try:
            assert conn.execute(item.sql, item.extra.get("params", [])).fetchall() == item.rows
        finally:
            conn.close()


def test_accepted_hostile_inputs_still_build(tmp_path, monkeypatch, capsys):
    """Every accepted case (its own flags kept) plus a tiny platform, ingested and built once."""
    from test_build import write_tiny_platform

    monkeypatch.setenv("CARDPULSE_HOME", str(tmp_path / "home"))
    landing = tmp_path / "landing"
    write_tiny_platform(landing)
    accepted = [c for c in CASES if c.exit == 0 and c.build and "65_mib" not in c.id]
    for index, item in enumerate(accepted):
        if item.args:
            folder = tmp_path / f"with_flags_{index:03d}"
            _write_case(folder, item, suffix=f"_{index:03d}")
            # Its own verdict is asserted above; here order ids clash across cases.
            main(["ingest", str(folder), *item.args])
        else:
            _write_case(landing, item, suffix=f"_{index:03d}")
    main(["ingest", str(landing)])
    capsys.readouterr()
    assert main(["build"]) == 0, capsys.readouterr()
    summary = capsys.readouterr().out
    assert "data: quarantined rows: orders " in summary, summary
    assert "inferred members: skus " in summary, summary
    conn = duckdb.connect(str(tmp_path / "home" / "warehouse.duckdb"), read_only=True)
    try:
        inferred = conn.execute(
            "SELECT sku_id, name FROM analytics.dim_skus WHERE is_inferred ORDER BY 1"
        ).fetchall()
        unlisted = conn.execute(
            "SELECT DISTINCT sku_id FROM raw.orders EXCEPT SELECT sku_id FROM raw.skus ORDER BY 1"
        ).fetchall()
        orphans = conn.execute(
            "SELECT count(*) FROM analytics.fct_orders ANTI JOIN analytics.dim_skus USING (sku_id)"
        ).fetchone()[0]
        as_of = conn.execute("SELECT max(as_of) FROM analytics.demand_forecast").fetchone()[0]
    finally:
        conn.close()
    # Orders of SKUs the skus files never listed kept their SKU: an inferred member each.
    assert unlisted and inferred == [(s, s) for (s,) in unlisted]
    assert orphans == 0
    # No poisoned date moved "today": the build's as-of stays within the ingest's tolerance.
    assert as_of <= NOW.date() + dt.timedelta(days=3)

    # The skus file later lists one of them: after a rebuild the real row replaces the
    # inferred member (same orders, real name and category), and only the others stay inferred.
    listed_now = unlisted[0][0]
    fix = tmp_path / "fix"
    fix.mkdir()
    (fix / "skus_fix.csv").write_text(
        "sku_id,name,category,brand,face_value,delivery_type,supplier_id,shelf_life_days,active\n"
        f"{listed_now},Listed later,game_card,Acme,10,card_key,SUP-A,,true\n",
        encoding="utf-8",
    )
    assert main(["ingest", str(fix)]) == 0
    capsys.readouterr()
    assert main(["build"]) == 0, capsys.readouterr()
    conn = duckdb.connect(str(tmp_path / "home" / "warehouse.duckdb"), read_only=True)
    try:
        row = conn.execute(
            "SELECT name, category, is_inferred, count(*) OVER () FROM analytics.dim_skus"
            " WHERE sku_id = ?",
            [listed_now],
        ).fetchone()
        still = conn.execute(
            "SELECT sku_id, name FROM analytics.dim_skus WHERE is_inferred ORDER BY 1"
        ).fetchall()
        orders_of = conn.execute(
            "SELECT count(*) FROM analytics.fct_orders WHERE sku_id = ?", [listed_now]
        ).fetchone()[0]
    finally:
        conn.close()
    assert row == ("Listed later", "game_card", False, 1)
    assert still == [(s, s) for (s,) in unlisted[1:]]
    assert orders_of > 0
