-- Prepaid balance per supplier at the end of each business day that has a snapshot.
with

snapshots as (

    select * from {{ ref('stg_cardpulse__supplier_balance_snapshots') }}
    -- The same snapshot loaded twice: the latest load wins.
    qualify row_number() over (
        partition by supplier_id, snapshot_at
        order by _loaded_at desc, _line desc
    ) = 1

),

day_end as (

    select * from snapshots
    qualify row_number() over (
        partition by supplier_id, snapshot_date
        order by snapshot_at desc
    ) = 1

),

final as (

    select
        supplier_id,
        snapshot_date as balance_date,
        cast(balance as decimal(18, 2)) as balance,
        snapshot_at

    from day_end

)

select * from final
