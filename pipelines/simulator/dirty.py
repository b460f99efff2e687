"""`--dirty`: the defects real exports carry, each one logged in `_truth/dirty_rows.csv`.

Inserted rows (new lines): exact duplicates, a second row for the same order and
updated_at with different content, bad dates, zero or negative quantity, unknown SKU,
unknown status. Edited rows (same order, same meaning): region spellings (广东, 广东省,
Guangdong, 44, 内蒙古自治区) and unreadable regions, formula-like text (=cmd|...). Whole
files (CSV only): skus in GB18030, merchants with a UTF-8 BOM. In dirty mode the orders
files carry their timestamps as text (in every format) so a bad date can be written at all.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from pipelines.simulator.provinces import PROVINCES
from pipelines.simulator.writer import TIMESTAMP_FORMAT, write_table

TIMESTAMP_COLUMNS = ("created_at", "updated_at", "paid_at", "delivered_at")
BAD_DATES = ("2025-02-30 10:00:00", "2025-13-01 08:00:00", "not a date", "", "31/12/2025 25:61")
UNKNOWN_SKUS = ("SKU-404-NOTFOUND", "QB-CARD-999", "测试商品")
UNKNOWN_STATUSES = ("shipped", "完成", "PAID_OK")
GARBAGE_REGIONS = ("火星", "N/A", "CN-XX")
FORMULAS = ("=cmd|' /C calc'!A0", "+SUM(A1:A9)", '@HYPERLINK("http://x.example")', "=1+1")
INSERTED = (
    "exact_duplicate",
    "duplicate_order_same_updated_at",
    "bad_date",
    "zero_quantity",
    "negative_quantity",
    "unknown_sku",
    "unknown_status",
)
EDITED = ("region_spelling", "unknown_region", "formula_like")
EXPECTED = {
    "exact_duplicate": "duplicate",
    "duplicate_order_same_updated_at": "quarantine",
    "bad_date": "quarantine",
    "zero_quantity": "quarantine",
    "negative_quantity": "quarantine",
    "unknown_sku": "infer",
    "unknown_status": "quarantine",
    "region_spelling": "normalise",
    "unknown_region": "normalise",
    "formula_like": "load_as_text",
    "gb18030_file": "decode",
    "utf8_bom_file": "decode",
}
_BY_CODE = {p.code: p for p in PROVINCES}


class DirtyInjector:
    """Applies the defects to chosen orders months and keeps the log of what went where."""

    def __init__(self, seed: int, fmt: str, gzip_orders: bool):
        self.rng = np.random.default_rng([seed, 9_999])
        self.fmt = fmt
        self.suffix = {
            "csv": ".csv.gz" if gzip_orders else ".csv",
            "parquet": ".parquet",
            "jsonl": ".jsonl",
        }[fmt]
        self.log: list[dict] = []
        self.inserted = 0

    def _line(self, row_index: int) -> int:
        return row_index + 2 if self.fmt == "csv" else row_index + 1

    def orders(self, table: pa.Table, stem: str, month_index: int, n_months: int, cat):
        """1. Timestamps to text; 2. in three months (second, middle, second to last), insert
        and edit rows; 3. log each defect with its final line."""
        for name in TIMESTAMP_COLUMNS:
            i = table.schema.get_field_index(name)
            table = table.set_column(i, name, pc.strftime(table[name], format=TIMESTAMP_FORMAT))
        chosen = {1, n_months // 2, n_months - 2}
        if month_index not in chosen or table.num_rows < 50:
            return table
        schema = table.schema
        rows = table.to_pylist()
        picks = self.rng.choice(
            len(rows), size=len(INSERTED) * 2 + len(EDITED) * 3 + 4, replace=False
        )
        picks_iter = iter(picks.tolist())
        after: dict[int, list[tuple[dict, str, str, str]]] = {}
        for defect in INSERTED:
            for _ in range(2):
                source = next(picks_iter)
                row, column, value = self._inserted_row(rows[source], defect)
                after.setdefault(source, []).append((row, defect, column, value))
        edits: dict[int, tuple[str, str, str, str]] = {}
        for defect in EDITED:
            count = 7 if defect == "region_spelling" else 3
            for k in range(count):
                source = next(picks_iter) if defect != "region_spelling" else None
                source, column, value, normalised = self._edit(rows, source, defect, k)
                if source is None or source in edits:
                    continue
                rows[source] = {**rows[source], column: value}
                edits[source] = (defect, column, value, normalised)
        out = []
        for i, row in enumerate(rows):
            out.append(row)
            if i in edits:
                defect, column, value, normalised = edits[i]
                self._record(stem, len(out) - 1, defect, column, value, normalised)
            for new_row, defect, column, value in after.get(i, []):
                out.append(new_row)
                self._record(stem, len(out) - 1, defect, column, value, "")
        return pa.Table.from_pylist(out, schema=schema)

    def _new_order_id(self, row: dict) -> str:
        self.inserted += 1
        return f"{row['order_id'][:9]}{900_000_000 + self.inserted}"

    def _inserted_row(self, row: dict, defect: str) -> tuple[dict, str, str]:
        row = dict(row)
        pick = self.rng.integers
        if defect == "exact_duplicate":
            return row, "", ""
        if defect == "duplicate_order_same_updated_at":
            row["status"] = "failed" if row["status"] != "failed" else "delivered"
            row["quantity"] = int(row["quantity"]) + 1
            return row, "status", row["status"]
        row["order_id"] = self._new_order_id(row)
        if defect == "bad_date":
            value = BAD_DATES[self.inserted % len(BAD_DATES)]
            row["created_at"] = value
            return row, "created_at", value
        if defect in ("zero_quantity", "negative_quantity"):
            row["quantity"] = 0 if defect == "zero_quantity" else -int(pick(1, 6))
            return row, "quantity", str(row["quantity"])
        if defect == "unknown_sku":
            row["sku_id"] = UNKNOWN_SKUS[self.inserted % len(UNKNOWN_SKUS)]
            return row, "sku_id", row["sku_id"]
        row["status"] = UNKNOWN_STATUSES[self.inserted % len(UNKNOWN_STATUSES)]
        return row, "status", row["status"]

    def _edit(self, rows, source, defect, k):
        """Region spellings keep the meaning: the k-th is 广东 / 广东省 / Guangdong / 44 /
        内蒙古自治区 / pinyin / GB prefix of the row's own province."""
        if defect == "region_spelling":
            wanted = ["CN-GD", "CN-GD", "CN-GD", "CN-GD", "CN-NM", None, None][k]
            candidates = [
                i
                for i in self.rng.permutation(len(rows))[:5000].tolist()
                if wanted is None or rows[i]["region_code"] == wanted
            ]
            if not candidates:
                return None, "", "", ""
            source = candidates[0]
            province = _BY_CODE[rows[source]["region_code"]]
            spelling = [
                province.name,
                province.full_name,
                province.pinyin,
                province.gb_prefix,
                province.full_name,
                province.pinyin,
                province.gb_prefix,
            ][k]
            return source, "region_code", spelling, province.code
        if defect == "unknown_region":
            return source, "region_code", GARBAGE_REGIONS[k % len(GARBAGE_REGIONS)], "UNKNOWN"
        return source, "buyer_id", FORMULAS[k % len(FORMULAS)], FORMULAS[k % len(FORMULAS)]

    def _record(self, stem, row_index, defect, column, value, normalised):
        self.log.append(
            {
                "file": f"{stem}{self.suffix}",
                "line": self._line(row_index),
                "row_number": row_index + 1,
                "defect": defect,
                "column": column,
                "value": value,
                "expected": EXPECTED[defect],
                "normalised_value": normalised,
            }
        )

    def encoding_for(self, stem: str) -> tuple[str, bool]:
        """skus.csv in GB18030 (as Excel on Chinese Windows saves it), merchants.csv with a BOM."""
        if stem == "skus":
            self.log.append(
                {
                    "file": "skus.csv",
                    "line": 0,
                    "row_number": 0,
                    "defect": "gb18030_file",
                    "column": "",
                    "value": "GB18030",
                    "expected": EXPECTED["gb18030_file"],
                    "normalised_value": "utf-8",
                }
            )
            return "gb18030", False
        if stem == "merchants":
            self.log.append(
                {
                    "file": "merchants.csv",
                    "line": 1,
                    "row_number": 0,
                    "defect": "utf8_bom_file",
                    "column": "",
                    "value": "EF BB BF",
                    "expected": EXPECTED["utf8_bom_file"],
                    "normalised_value": "",
                }
            )
            return "utf-8", True
        return "utf-8", False

    def write(self, truth_dir: Path) -> int:
        columns = (
            "file",
            "line",
            "row_number",
            "defect",
            "column",
            "value",
            "expected",
            "normalised_value",
        )
        log = sorted(self.log, key=lambda r: (r["file"], r["line"]))
        table = pa.table(
            {
                c: pa.array(
                    [r[c] for r in log], pa.int64() if c in ("line", "row_number") else pa.string()
                )
                for c in columns
            }
        )
        write_table(table, truth_dir, "dirty_rows", "csv")
        return len(log)
