"""A card key delivered to two orders (#19), from the optional orders column ``card_key_ids``:
ingest checks the list (bad ones quarantined with their reason, files without it still load),
``int_order_card_keys`` splits it, ``recon_card_keys`` reports the order that got a key another
order had first, with the orders, batch, amount to the fen and a status that re-arms; loop
keys (``loop:`` ids) are sold again by design and never reported."""

from pathlib import Path

import dagster as dg
import pytest
from dagster_duckdb import DuckDBResource
from ingest_helpers import counts, ingest, query, write
from test_recon import SKUS, _dbt_build, _record_state

from pipelines.assets.reconciliation import recon_state
from pipelines.resources import BuildSettings

ORDERS = (
    "order_id,created_at,updated_at,paid_at,delivered_at,merchant_id,sku_id,quantity,"
    "unit_price,unit_cost,status,supplier_id,paid_amount,card_batch_id,card_key_ids"
)


def _order(n: str, day: int, keys: int, paid: str, ids: str, status: str = "delivered") -> str:
    at = f"2026-03-{day:02d} 12:00"
    delivered = at if status == "delivered" else ""
    return f'{n},{at},{at},{at},{delivered},M1,K,{keys},10.00,9.10,{status},SUP-K,{paid},B1,"{ids}"'


def _load(folder: Path) -> list[Path]:
    return [
        write(folder / "skus.csv", SKUS, "K,Key,game_card,Q,10,card_key,SUP-K,,true"),
        write(
            folder / "card_batches.csv",
            "batch_id,sku_id,supplier_id,keys,unit_cost,received_at,expires_at",
            "B1,K,SUP-K,100,9.10,2026-03-01 08:00,",
        ),
        write(
            folder / "orders.csv",
            ORDERS,
            _order("O1", 2, 2, "20.00", "K-1,K-2"),
            _order("O2", 3, 1, "10.00", "K-2"),  # K-2 again: O1 had it first
            _order("O3", 4, 3, "20.00", "K-1 , K-3,K-4"),  # one of three keys reused: 6.67
            _order("O4", 4, 1, "10.00", "loop:L-9"),  # a loop key, sold again and again
            _order("O5", 5, 1, "10.00", "loop:L-9"),
            _order("O6", 5, 1, "10.00", "K-5", status="pending_payment"),  # never delivered
            _order("O7", 5, 1, "10.00", "K-5"),
        ),
    ]


def _key_findings(home: Path) -> dict:
    rows = query(
        home,
        "SELECT order_id, related_order_id, batch_id, keys, amount, status, first_seen "
        "FROM analytics.recon_card_keys WHERE kind = 'key_delivered_to_two_orders'",
    )
    return {row[0]: tuple(str(v) if v is not None else None for v in row[1:]) for row in rows}


@pytest.mark.filterwarnings("ignore::DeprecationWarning")
def test_a_key_on_two_orders_is_found_to_the_fen_loop_keys_are_not_and_it_re_arms(
    tmp_path, monkeypatch
):
    files = tmp_path / "export"
    files.mkdir()
    ingest(tmp_path, *_load(files))
    _dbt_build(tmp_path, as_of="2026-03-06")
    keys = query(
        tmp_path,
        "SELECT order_id, card_key_id, key_position, is_loop_key "
        "FROM intermediate.int_order_card_keys WHERE order_id IN ('O3', 'O4') "
        "ORDER BY order_id, key_position",
    )
    assert keys == [
        ("O3", "K-1", 1, False),
        ("O3", "K-3", 2, False),
        ("O3", "K-4", 3, False),
        ("O4", "loop:L-9", 1, True),
    ]
    assert _key_findings(tmp_path) == {
        "O2": ("O1", "B1", "1", "10.00", "open", "2026-03-06"),
        "O3": ("O1", "B1", "1", "6.67", "open", "2026-03-06"),
    }
    # A reused key is not a key drawn again: B1 drew O1's 2, O3's 2 new, O4, O5 and O7.
    assert query(
        tmp_path, "SELECT count(*) FROM analytics.recon_card_keys WHERE kind LIKE 'batch_%'"
    ) == [(0,)]
    monkeypatch.setenv("CARDPULSE_HOME", str(tmp_path))
    recorded = dg.materialize(
        [recon_state],
        resources={
            "duckdb": DuckDBResource(database=str(tmp_path / "warehouse.duckdb")),
            "build_settings": BuildSettings(as_of="2026-03-06"),
        },
    )
    # The step's wall and CPU seconds, as `cardpulse build` records them.
    [materialized] = recorded.asset_materializations_for_node("recon_state")
    assert {"wall_seconds", "cpu_seconds"} <= set(materialized.metadata)
    assert materialized.metadata["open_recon_card_keys"].value == 2

    # The shop's corrected export: O2 got K-6. Its finding resolves; O3's stays open.
    fix = tmp_path / "fix"
    fix.mkdir()
    corrected = _order("O2", 3, 1, "10.00", "K-6").replace(
        "2026-03-03 12:00,2026-03-03 12:00", "2026-03-03 12:00,2026-03-06 09:00", 1
    )
    ingest(tmp_path, write(fix / "orders_fix.csv", ORDERS, corrected))
    _dbt_build(tmp_path, as_of="2026-03-07")
    assert _key_findings(tmp_path) == {
        "O2": ("O1", "B1", None, "10.00", "resolved", "2026-03-06"),
        "O3": ("O1", "B1", "1", "6.67", "open", "2026-03-06"),
    }
    _record_state(tmp_path, monkeypatch, as_of="2026-03-07")

    # K-2 turns up on O2 again: the finding re-arms, first seen today.
    again = corrected.replace("2026-03-06 09:00", "2026-03-07 09:00").replace('"K-6"', '"K-2"')
    ingest(tmp_path, write(fix / "orders_again.csv", ORDERS, again))
    _dbt_build(tmp_path, as_of="2026-03-08")
    assert _key_findings(tmp_path)["O2"] == ("O1", "B1", "1", "10.00", "open", "2026-03-08")


def test_bad_card_key_lists_are_quarantined_with_their_reason(tmp_path):
    files = tmp_path / "export"
    files.mkdir()
    write(files / "skus.csv", SKUS, "K,Key,game_card,Q,10,card_key,SUP-K,,true")
    orders = write(
        files / "orders.csv",
        ORDERS,
        _order("G1", 2, 2, "20.00", "K-1, K-2"),  # spaces around a comma are fine
        _order("G2", 2, 1, "10.00", ""),  # no keys named: fine (the column is optional)
        _order("E1", 2, 2, "20.00", "K-1,,K-2"),
        _order("E2", 2, 2, "20.00", "K-7,K-7"),
        _order("E3", 2, 1, "10.00", "K-8,K-9"),
        _order("E4", 2, 1, "10.00", "card secret with spaces"),
    )
    result = ingest(tmp_path, files / "skus.csv", orders)[1]
    assert counts(result) == (6, 2, 0, 0, 4)
    reasons = dict(
        query(tmp_path, "SELECT line, reason FROM raw.quarantine WHERE entity = 'orders'")
    )
    not_a_list = reasons[4]
    assert not_a_list.startswith("card_key_ids is not a comma-separated list of key ids")
    assert reasons == {
        4: not_a_list,
        5: "card_key_ids lists one key id more than once",
        6: "card_key_ids lists more keys than the order's quantity",
        7: not_a_list,
    }
    assert query(tmp_path, "SELECT order_id, card_key_ids FROM raw.orders ORDER BY order_id") == [
        ("G1", "K-1, K-2"),
        ("G2", None),
    ]


def test_acg_faka_orders_carry_the_ids_of_the_cards_sold_to_them(tmp_path):
    from test_ingest_adapters import acg_export

    folder = acg_export(tmp_path / "shop")
    write(
        folder / "acg_card.csv",
        "id,owner,commodity_id,draft,secret,create_time,purchase_time,order_id,status,note,race",
        "1,0,1,,S-SECRET-1,2024-02-01 10:00:00,2024-03-01 10:01:00,1,1,,",
        "2,0,1,,S-SECRET-2,2024-02-01 10:00:00,,,0,,",
        "4,0,1,,S-SECRET-4,2024-02-01 10:00:00,2024-03-01 10:01:00,1,1,,",
        "5,0,1,,S-SECRET-5,2024-02-01 10:00:00,2024-03-01 12:01:00,3,1,,",
    )
    results = ingest(tmp_path, folder, source="acg-faka")
    assert all(r.error is None and r.quarantined == 0 for r in results), results
    # Order 1 was delivered both keys; order 3 is not paid: its card is no delivery.
    assert query(tmp_path, "SELECT order_id, card_key_ids FROM raw.orders ORDER BY 1") == [
        ("A20240301000001", "1,4"),
        ("A20240301000002", None),
        ("A20240301000003", None),
    ]
    assert b"S-SECRET" not in (tmp_path / "warehouse.duckdb").read_bytes()


def test_dujiao_next_one_item_orders_carry_their_card_secret_ids_never_the_secrets(tmp_path):
    from test_ingest_adapters_dujiao_next import csv_export

    folder = csv_export(tmp_path / "export")
    write(
        folder / "card_secrets.csv",  # internal/models/card_secret.go, in model order
        "id,product_id,sku_id,batch_id,secret,status,order_id,export_id,reserved_at,used_at,"
        "created_at,updated_at,deleted_at",
        *(
            f"{n},5,7,1,DN-SECRET-{n},used,1,,,2024-03-01 10:01:00,2024-03-01 09:00:00,"
            "2024-03-01 10:01:00,"
            for n in (101, 102, 103)
        ),
        # Order 2 has two items: its keys cannot be told apart by item, so none is named.
        "104,5,7,1,DN-SECRET-104,used,2,,,2024-03-02 09:10:00,2024-03-01 09:00:00,,",
        "105,5,7,1,DN-SECRET-105,available,,,,,2024-03-01 09:00:00,,",
    )
    results = ingest(tmp_path, folder, source="dujiao-next")
    assert all(r.error is None for r in results), results
    assert query(tmp_path, "SELECT order_id, card_key_ids FROM raw.orders ORDER BY 1") == [
        ("DN1", "101,102,103"),
        ("DN2/12", None),
        ("DN2/13", None),
        ("DN3/14", None),
    ]
    assert b"DN-SECRET" not in (tmp_path / "warehouse.duckdb").read_bytes()
