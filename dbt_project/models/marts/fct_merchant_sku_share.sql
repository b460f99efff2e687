-- Each merchant's units of each SKU over the trailing share window (28 days by default, var
-- share_window_days) ending on the last order day, beside every merchant's units of that SKU.
-- The dashboard scales the platform forecast of the SKUs a merchant picked by
-- sum(units) / sum(sku_units) over them: the rule lives here, the page only sums.
with

sales as (

    select merchant_id, sku_id, order_date, units
    from {{ ref('fct_daily_merchant_sales') }}

),

window_end as (

    select max(order_date) as window_end from sales

),

in_window as (

    select
        sales.merchant_id,
        sales.sku_id,
        sales.units,
        window_end.window_end
    from sales
    cross join window_end
    where {{ dbt.datediff('sales.order_date', 'window_end.window_end', 'day') }}
        < {{ var('share_window_days', 28) }}

),

per_merchant as (

    select
        merchant_id,
        sku_id,
        max(window_end) as window_end,
        cast(sum(units) as bigint) as units
    from in_window
    group by merchant_id, sku_id

),

final as (

    select
        {{ add_days('per_merchant.window_end', 1 - var('share_window_days', 28)) }}
            as window_start,
        cast(per_merchant.window_end as date) as window_end,
        per_merchant.merchant_id,
        per_merchant.sku_id,
        dim_skus.category,
        per_merchant.units,
        cast(sum(per_merchant.units) over (partition by per_merchant.sku_id) as bigint)
            as sku_units
    from per_merchant
    left join {{ ref('dim_skus') }} as dim_skus
        on per_merchant.sku_id = dim_skus.sku_id

)

select
    *,
    cast(units as double) / nullif(sku_units, 0) as unit_share
from final
