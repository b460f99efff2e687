-- Orders per merchant, business day, SKU, buyer region and channel, every status counted. The
-- dashboard's merchant views filter this through dim_merchant_hierarchy. Incremental: a run
-- rebuilds only the days that changed (macros/incremental_days.sql).
-- depends_on: {{ ref('int_price_history') }}
{{ daily_incremental_config() }}

with

orders as (

    select * from {{ ref('fct_orders') }}
    {% if is_incremental() %}
        where order_date in ({{ days_to_rebuild(ref('fct_orders'), ref('int_price_history')) }})
    {% endif %}

),

daily as (

    select
        merchant_id,
        order_date,
        sku_id,
        region_code,
        -- A missing channel is its own bucket, never folded into 'other'.
        coalesce(channel, 'unknown') as channel,
        cast(count(*) as bigint) as orders,
        cast(count(*) filter (where is_demand) as bigint) as paid_orders,
        cast(coalesce(sum(quantity) filter (where is_demand), 0) as bigint) as units,
        cast(sum(gross_revenue) as decimal(18, 2)) as gross_revenue,
        cast(sum(net_revenue) as decimal(18, 2)) as net_revenue,
        cast(sum(gross_margin) filter (where is_demand) as decimal(18, 2)) as gross_margin,
        cast(count(*) filter (where is_refunded) as bigint) as refunded_orders,
        cast(count(*) filter (where is_failed) as bigint) as failed_orders,
        cast(count(*) filter (where status = 'delivered') as bigint) as delivered_orders,
        cast(coalesce(sum(delivery_seconds), 0) as bigint) as delivery_seconds_sum,
        cast(count(delivery_seconds) as bigint) as delivery_count,
        -- The newest raw load among the day's orders: what the next run compares against.
        max(_loaded_at) as _loaded_at

    from orders
    group by merchant_id, order_date, sku_id, region_code, coalesce(channel, 'unknown')

)

select * from daily
