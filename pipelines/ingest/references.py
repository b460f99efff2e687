"""Late-arriving master data: ids that a file names before their master row has arrived.

An order whose SKU, merchant or supplier is not known yet is loaded all the same (the Kimball
pattern): the dbt dimensions hold an inferred member for it (``is_inferred``, named after its
id) until the real row arrives and replaces it. Ingest only reports them, so that someone
sends the missing master file.
"""

from __future__ import annotations

from dataclasses import dataclass

from pipelines.ingest.reading import quote_ident

# (entity, column) -> the master entity and its key. A master that is optional (merchants,
# suppliers) is only checked once some of its rows are loaded.
REFERENCES: dict[str, tuple[tuple[str, str], ...]] = {
    "orders": (("sku_id", "skus"), ("merchant_id", "merchants"), ("supplier_id", "suppliers")),
    "inventory": (("sku_id", "skus"), ("supplier_id", "suppliers")),
    "price_changes": (("sku_id", "skus"),),
    "skus": (("supplier_id", "suppliers"),),
    "supplier_balances": (("supplier_id", "suppliers"),),
    "card_batches": (("sku_id", "skus"), ("supplier_id", "suppliers")),
    "agents": (("merchant_id", "merchants"),),
}
MASTER_KEYS = {"skus": "sku_id", "merchants": "merchant_id", "suppliers": "supplier_id"}
ALWAYS_CHECKED = ("skus",)
SHOWN_IDS = 5
NOUNS = {"skus": ("SKU", "SKUs"), "merchants": ("merchant", "merchants")}
NOUNS["suppliers"] = ("supplier", "suppliers")


@dataclass(frozen=True)
class InferredMembers:
    """Ids of one master entity that rows name but its master file does not hold (yet)."""

    master: str
    count: int
    examples: tuple[str, ...]

    def note(self) -> str:
        """``2 SKUs not in skus yet, inferred: S9, S10``."""
        noun = NOUNS[self.master][self.count > 1]
        shown = ", ".join(self.examples)
        hidden = self.count - len(self.examples)
        more = f" and {hidden} more" if hidden > 0 else ""
        return f"{self.count} {noun} not in {self.master} yet, inferred: {shown}{more}"


def _checked(conn, master: str) -> bool:
    if master in ALWAYS_CHECKED:
        return True
    return conn.execute(f"SELECT EXISTS (SELECT 1 FROM raw.{master})").fetchone()[0]


def _missing(conn, ids_sql: str, master: str) -> InferredMembers | None:
    key = quote_ident(MASTER_KEYS[master])
    count, examples = conn.execute(
        f"""SELECT count(*), list(id ORDER BY id)[1:{SHOWN_IDS}] FROM (
                SELECT DISTINCT id FROM ({ids_sql}) ids(id) WHERE id IS NOT NULL
                EXCEPT SELECT {key} FROM raw.{master})"""
    ).fetchone()
    return InferredMembers(master, int(count), tuple(examples)) if count else None


def inferred_in_files(
    conn, entity: str, file_index: str, files: int
) -> list[list[InferredMembers]]:
    """Per file staged together (``file_index``: SQL giving a staged row's file, from 0), the
    master ids that ``staged``'s good rows name and the raw tables do not hold. One scan of
    ``staged`` per master, however many files it holds."""
    found: list[list[InferredMembers]] = [[] for _ in range(files)]
    for column, master in REFERENCES.get(entity, ()):
        if master == entity or not _checked(conn, master):
            continue
        key = quote_ident(MASTER_KEYS[master])
        rows = conn.execute(
            f"""SELECT _file, count(*), list(id ORDER BY id)[1:{SHOWN_IDS}] FROM (
                    SELECT DISTINCT {file_index} AS _file, {quote_ident(column)} AS id
                    FROM staged WHERE _reason IS NULL AND {quote_ident(column)} IS NOT NULL) ids
                ANTI JOIN raw.{master} m ON m.{key} = ids.id
                GROUP BY _file"""
        ).fetchall()
        for index, count, examples in rows:
            found[index].append(InferredMembers(master, int(count), tuple(examples)))
    return found


def inferred_members(conn) -> list[InferredMembers]:
    """Every master id the warehouse's raw tables name without its master row, per master."""
    found = []
    for master in MASTER_KEYS:
        if not _checked(conn, master):
            continue
        sources = [
            f"SELECT {quote_ident(column)} FROM raw.{entity}"
            for entity, references in REFERENCES.items()
            for column, target in references
            if target == master
        ]
        if members := _missing(conn, " UNION ALL ".join(sources), master):
            found.append(members)
    return found
