"""DDL of the raw layer: what ingestion writes and dbt reads as sources.

All ``*_at`` timestamps are stored as TIMESTAMP in Asia/Shanghai wall time (input with an
offset is converted; input without one is already Shanghai time), so ``created_at::DATE`` is
the business day. Money is DECIMAL(18, 2). Every loaded row keeps its lineage: the file it
came from (``_file_id``, the file's SHA-256), its line, and when it was loaded.
"""

from __future__ import annotations

import functools

from pipelines.ingest.reading import quote_ident

RAW_SCHEMA = "raw"

_LINEAGE = "_file_id VARCHAR NOT NULL, _line BIGINT NOT NULL, _loaded_at TIMESTAMP NOT NULL"

RAW_TABLES: dict[str, str] = {
    # One row per order_id: the newest version by updated_at (later status rows replace it).
    # region_raw: the region as exported, NULL when that is the ISO code itself.
    "orders": f"""
        order_id VARCHAR NOT NULL,
        created_at TIMESTAMP NOT NULL,
        updated_at TIMESTAMP NOT NULL,
        paid_at TIMESTAMP,
        delivered_at TIMESTAMP,
        merchant_id VARCHAR NOT NULL,
        sku_id VARCHAR NOT NULL,
        quantity INTEGER NOT NULL,
        unit_price DECIMAL(18, 2) NOT NULL,
        unit_cost DECIMAL(18, 2),
        list_price DECIMAL(18, 2),
        status VARCHAR NOT NULL,
        region_code VARCHAR NOT NULL,
        region_raw VARCHAR,
        channel VARCHAR,
        supplier_id VARCHAR,
        buyer_id VARCHAR,
        payment_method VARCHAR,
        {_LINEAGE}""",
    "skus": f"""
        sku_id VARCHAR NOT NULL,
        name VARCHAR,
        category VARCHAR NOT NULL,
        brand VARCHAR,
        face_value DECIMAL(18, 2),
        delivery_type VARCHAR NOT NULL,
        supplier_id VARCHAR,
        shelf_life_days INTEGER,
        active BOOLEAN NOT NULL,
        {_LINEAGE}""",
    "merchants": f"""
        merchant_id VARCHAR NOT NULL,
        name VARCHAR,
        tier VARCHAR,
        parent_merchant_id VARCHAR,
        region_code VARCHAR,
        joined_at TIMESTAMP,
        {_LINEAGE}""",
    "suppliers": f"""
        supplier_id VARCHAR NOT NULL,
        name VARCHAR,
        lead_time_hours DOUBLE,
        min_order_qty INTEGER,
        batch_size INTEGER,
        {_LINEAGE}""",
    # region_code NULL means every region.
    "price_changes": f"""
        sku_id VARCHAR NOT NULL,
        region_code VARCHAR,
        effective_at TIMESTAMP NOT NULL,
        list_price DECIMAL(18, 2) NOT NULL,
        unit_cost DECIMAL(18, 2),
        {_LINEAGE}""",
    "inventory": f"""
        as_of TIMESTAMP NOT NULL,
        sku_id VARCHAR NOT NULL,
        supplier_id VARCHAR,
        on_hand INTEGER NOT NULL,
        on_order INTEGER NOT NULL,
        expiring_7d INTEGER NOT NULL,
        {_LINEAGE}""",
    "supplier_balances": f"""
        as_of TIMESTAMP NOT NULL,
        supplier_id VARCHAR NOT NULL,
        balance DECIMAL(18, 2) NOT NULL,
        {_LINEAGE}""",
    "events": f"""
        name VARCHAR NOT NULL,
        start_date DATE NOT NULL,
        end_date DATE NOT NULL,
        scope VARCHAR NOT NULL,
        {_LINEAGE}""",
    # Sub-sites / resellers of a merchant, with their commission rule.
    "agents": f"""
        agent_id VARCHAR NOT NULL,
        merchant_id VARCHAR NOT NULL,
        parent_agent_id VARCHAR,
        commission_pct DOUBLE,
        joined_at TIMESTAMP,
        {_LINEAGE}""",
    # Card keys received from a supplier in one batch.
    "card_batches": f"""
        batch_id VARCHAR NOT NULL,
        sku_id VARCHAR NOT NULL,
        supplier_id VARCHAR,
        keys INTEGER NOT NULL,
        unit_cost DECIMAL(18, 2),
        received_at TIMESTAMP NOT NULL,
        expires_at TIMESTAMP,
        {_LINEAGE}""",
    # One row per payment attempt.
    "payments": f"""
        payment_id VARCHAR NOT NULL,
        order_id VARCHAR NOT NULL,
        channel VARCHAR,
        amount DECIMAL(18, 2) NOT NULL,
        fee DECIMAL(18, 2),
        status VARCHAR NOT NULL,
        created_at TIMESTAMP NOT NULL,
        callback_at TIMESTAMP,
        gateway_trade_no VARCHAR,
        {_LINEAGE}""",
    # Every rejected row, with where it came from and why.
    "quarantine": """
        _file_id VARCHAR NOT NULL,
        file_path VARCHAR NOT NULL,
        entity VARCHAR NOT NULL,
        line BIGINT NOT NULL,
        column_name VARCHAR,
        reason VARCHAR NOT NULL,
        raw_text VARCHAR,
        quarantined_at TIMESTAMP NOT NULL,
        raw_values VARCHAR,
        replayable BOOLEAN""",
    # One row per file ever loaded, keyed by content hash: the same bytes twice change nothing.
    "file_ledger": """
        _file_id VARCHAR NOT NULL,
        file_path VARCHAR NOT NULL,
        entity VARCHAR NOT NULL,
        source VARCHAR NOT NULL,
        rows_read BIGINT NOT NULL,
        loaded BIGINT NOT NULL,
        updated BIGINT NOT NULL,
        duplicate BIGINT NOT NULL,
        quarantined BIGINT NOT NULL,
        loaded_at TIMESTAMP NOT NULL,
        version INTEGER DEFAULT 1""",
}


# Columns added since the first release: a warehouse made before them gets them on open.
ADDED_COLUMNS = (
    ("quarantine", "raw_values", "VARCHAR"),
    ("quarantine", "replayable", "BOOLEAN"),
    ("file_ledger", "version", "INTEGER DEFAULT 1"),
    # Issue #18: a batch of loop keys (dujiaoka carmis is_loop), sold again and again.
    ("card_batches", "is_loop", "BOOLEAN"),
)

# Optional columns a table gets when a file first carries a value in them (issue #18: the
# whole order). An export without them writes no column of NULLs: 12 always-empty columns
# cost a fifth of the write of raw.orders (measured). dbt reads a missing one as NULL.
OPTIONAL_COLUMNS: dict[str, tuple[tuple[str, str], ...]] = {
    "orders": (
        ("paid_amount", "DECIMAL(18, 2)"),
        ("payment_channel", "VARCHAR"),
        ("payment_fee", "DECIMAL(18, 2)"),
        ("coupon_code", "VARCHAR"),
        ("discount_amount", "DECIMAL(18, 2)"),
        ("agent_id", "VARCHAR"),
        ("agent_commission", "DECIMAL(18, 2)"),
        ("delivery_mode", "VARCHAR"),
        ("gateway_trade_no", "VARCHAR"),
        ("card_batch_id", "VARCHAR"),
        ("buyer_key", "VARCHAR"),
        ("buyer_ip_key", "VARCHAR"),
        # Issue #19: the delivered keys' ids, comma-separated.
        ("card_key_ids", "VARCHAR"),
    ),
}


def create_raw_tables(conn, optional: bool = False) -> None:
    """Create the raw schema and its tables if they are missing, and add the columns that
    later versions added (idempotent). ``optional`` adds every optional column too (the
    whole schema, as the lake and Spark declare it)."""
    conn.execute(f"CREATE SCHEMA IF NOT EXISTS {RAW_SCHEMA}")
    for table, columns in RAW_TABLES.items():
        conn.execute(f"CREATE TABLE IF NOT EXISTS {RAW_SCHEMA}.{table} ({columns})")
    added = list(ADDED_COLUMNS)
    if optional:
        added += [(t, c, k) for t, columns in OPTIONAL_COLUMNS.items() for c, k in columns]
    for table, column, kind in added:
        conn.execute(f"ALTER TABLE {RAW_SCHEMA}.{table} ADD COLUMN IF NOT EXISTS {column} {kind}")


def table_columns(conn, table: str) -> list[str]:
    """The columns raw.<table> has now, in table order."""
    rows = conn.execute(
        """SELECT column_name FROM information_schema.columns
           WHERE table_schema = ? AND table_name = ? ORDER BY ordinal_position""",
        [RAW_SCHEMA, table],
    ).fetchall()
    return [row[0] for row in rows]


@functools.cache
def full_columns(table: str) -> tuple[tuple[str, str], ...]:
    """(column, DuckDB type) of raw.<table> with every optional column: the whole schema."""
    import duckdb

    conn = duckdb.connect()
    try:
        create_raw_tables(conn, optional=True)
        described = conn.execute(f"DESCRIBE {RAW_SCHEMA}.{table}").fetchall()
        return tuple((name, kind) for name, kind, *_ in described)
    finally:
        conn.close()


def add_carried_columns(conn, table: str, relation: str, present) -> list[str]:
    """Add to raw.<table> the optional columns that ``relation``'s good rows (``_reason IS
    NULL``) carry a value in, among the column names ``present``; returns those added."""
    have = set(table_columns(conn, table))
    missing = [
        (name, kind)
        for name, kind in OPTIONAL_COLUMNS.get(table, ())
        if name in present and name not in have
    ]
    if not missing:
        return []
    counts = conn.execute(
        f"SELECT {', '.join(f'count({quote_ident(name)})' for name, _ in missing)} "
        f"FROM {relation} WHERE _reason IS NULL"
    ).fetchone()
    added = [(name, kind) for (name, kind), count in zip(missing, counts, strict=True) if count]
    for name, kind in added:
        conn.execute(
            f"ALTER TABLE {RAW_SCHEMA}.{table} ADD COLUMN IF NOT EXISTS {quote_ident(name)} {kind}"
        )
    return [name for name, _ in added]
