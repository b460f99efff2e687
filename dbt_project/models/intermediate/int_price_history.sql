-- Price changes per SKU and scope (one region, or NULL = every region), with the unit cost
-- carried forward: a change that sets only the list price keeps the last known cost of its
-- scope, and cost_effective_at says since when that cost holds.
with

price_changes as (

    select * from {{ ref('stg_cardpulse__price_changes') }}
    -- The same change loaded twice (e.g. from two files): the latest load wins.
    qualify row_number() over (
        partition by sku_id, region_code, effective_at
        order by _loaded_at desc, _line desc
    ) = 1

),

carried_forward as (

    select
        sku_id,
        region_code,
        effective_at,
        list_price,
        {{ last_non_null('unit_cost') }} over scope_history as unit_cost,
        {{ last_non_null('case when unit_cost is not null then effective_at end') }}
            over scope_history as cost_effective_at,
        _loaded_at

    from price_changes
    window scope_history as (
        partition by sku_id, region_code
        order by effective_at
        rows between unbounded preceding and current row
    )

)

select * from carried_forward
