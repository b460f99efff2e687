-- Card-key stock per SKU at the end of each business day that has a snapshot, with a stockout
-- flag forecasting uses to treat that day's sales as censored demand.
with

day_end as (

    select * from {{ ref('int_inventory_day_end') }}

),

units_sold as (

    select sku_id, order_date, sum(units) as units
    from {{ ref('fct_daily_sku_sales') }}
    group by sku_id, order_date

),

skus as (

    select sku_id, supplier_id from {{ ref('dim_skus') }}

),

with_history as (

    select
        day_end.*,
        coalesce(units_sold.units, 0) as units_sold,
        lag(day_end.on_hand) over (
            partition by day_end.sku_id
            order by day_end.inventory_date
        ) as previous_on_hand,
        skus.supplier_id as sku_supplier_id

    from day_end
    left join units_sold
        on day_end.sku_id = units_sold.sku_id
        and day_end.inventory_date = units_sold.order_date
    left join skus
        on day_end.sku_id = skus.sku_id

),

final as (

    select
        sku_id,
        inventory_date,
        cast(coalesce(supplier_id, sku_supplier_id) as {{ dbt.type_string() }}) as supplier_id,
        cast(on_hand as bigint) as on_hand,
        cast(on_order as bigint) as on_order,
        cast(expiring_7d as bigint) as expiring_7d,
        -- Out of keys at day end, or the day began out of keys (previous snapshot at zero)
        -- and sold nothing: either way the day's sales understate demand.
        on_hand <= 0 or (units_sold = 0 and coalesce(previous_on_hand <= 0, false))
            as is_stockout,
        cast(units_sold as bigint) as units_sold,
        cast(previous_on_hand as bigint) as previous_on_hand,
        snapshot_at,
        cast(supplier_count as integer) as supplier_count

    from with_history

)

select * from final
