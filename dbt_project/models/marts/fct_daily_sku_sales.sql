-- depends_on: {{ ref('int_price_history') }}
{{ daily_incremental_config() }}

-- Sales per SKU, buyer region and business day: demand orders only (paid, delivered, failed,
-- refunded), the series forecasting reads. Incremental: a run rebuilds only the days that
-- changed (macros/incremental_days.sql).
with

demand_orders as (

    select * from {{ ref('fct_orders') }}
    where is_demand
    {% if is_incremental() %}
        and order_date in ({{ days_to_rebuild(ref('fct_orders'), ref('int_price_history')) }})
    {% endif %}

),

daily as (

    select
        sku_id,
        region_code,
        order_date,
        cast(sum(quantity) as bigint) as units,
        cast(count(*) as bigint) as orders,
        cast(sum(gross_revenue) as decimal(18, 2)) as gross_revenue,
        cast(sum(net_revenue) as decimal(18, 2)) as net_revenue,
        -- Over the orders whose cost is known; uncosted_units says how many units lack one.
        cast(sum(gross_margin) as decimal(18, 2)) as gross_margin,
        cast(coalesce(sum(quantity) filter (where is_refunded), 0) as bigint) as refunded_units,
        cast(coalesce(sum(quantity) filter (where is_failed), 0) as bigint) as failed_units,
        cast(coalesce(sum(quantity) filter (where effective_unit_cost is null), 0) as bigint)
            as uncosted_units,
        -- Units-weighted averages.
        cast(sum(quantity * unit_price) / sum(quantity) as decimal(18, 4)) as avg_unit_price,
        cast(
            sum(quantity * effective_list_price)
            / nullif(sum(quantity) filter (where effective_list_price is not null), 0)
            as decimal(18, 4)
        ) as avg_list_price,
        cast(
            sum(quantity * effective_unit_cost)
            / nullif(sum(quantity) filter (where effective_unit_cost is not null), 0)
            as decimal(18, 4)
        ) as avg_unit_cost,
        -- The newest raw load among the day's orders: what the next run compares against.
        max(_loaded_at) as _loaded_at

    from demand_orders
    group by sku_id, region_code, order_date

)

select * from daily
