-- Per SKU and business day, summed over regions: what the restock stage ranks (gross margin
-- for ABC classes), prices keys at (units-weighted unit cost) and sizes safety stock from
-- (the largest day). pipelines/assets/restock.py reads windows of it before its as_of date.
with

daily as (

    select * from {{ ref('fct_daily_sku_sales') }}

),

final as (

    select
        sku_id,
        order_date,
        sum(units) as units,
        sum(gross_margin) as gross_margin,
        -- avg_unit_cost is units-weighted per row: times units gives the row's cost.
        sum(avg_unit_cost * units) as costed_cost,
        coalesce(sum(units) filter (where avg_unit_cost is not null), 0) as costed_units
    from daily
    group by sku_id, order_date

)

select * from final
