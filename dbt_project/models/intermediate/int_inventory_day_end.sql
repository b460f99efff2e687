-- Stock per SKU at the end of each business day: each supplier's last snapshot of the day,
-- summed over the SKU's suppliers.
with

snapshots as (

    select * from {{ ref('stg_cardpulse__inventory_snapshots') }}
    -- The same snapshot loaded twice: the latest load wins.
    qualify row_number() over (
        partition by sku_id, supplier_id, snapshot_at
        order by _loaded_at desc, _line desc
    ) = 1

),

supplier_day_end as (

    select * from snapshots
    qualify row_number() over (
        partition by sku_id, supplier_id, snapshot_date
        order by snapshot_at desc
    ) = 1

),

sku_day_end as (

    select
        sku_id,
        snapshot_date as inventory_date,
        max(snapshot_at) as snapshot_at,
        -- The supplier holding most keys at day end stands for the SKU.
        max_by(supplier_id, on_hand) as supplier_id,
        count(*) as supplier_count,
        sum(on_hand) as on_hand,
        sum(on_order) as on_order,
        sum(expiring_7d) as expiring_7d

    from supplier_day_end
    group by sku_id, snapshot_date

)

select * from sku_day_end
