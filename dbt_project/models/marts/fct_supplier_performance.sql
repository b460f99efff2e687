-- Fulfilment quality per supplier and business day, over demand orders (the order's supplier,
-- else its SKU's supplier; orders with neither are not attributed to anyone).
with

orders as (

    select
        coalesce(fct_orders.supplier_id, dim_skus.supplier_id) as supplier_id,
        fct_orders.order_date,
        fct_orders.status,
        fct_orders.delivery_seconds

    from {{ ref('fct_orders') }} as fct_orders
    left join {{ ref('dim_skus') }} as dim_skus
        on fct_orders.sku_id = dim_skus.sku_id
    where fct_orders.is_demand

),

daily as (

    select
        supplier_id,
        order_date,
        cast(count(*) as bigint) as orders,
        cast(count(*) filter (where status = 'delivered') as bigint) as delivered_orders,
        cast(count(*) filter (where status = 'failed') as bigint) as failed_orders,
        cast(count(*) filter (where status = 'refunded') as bigint) as refunded_orders,
        cast(count(*) filter (where status = 'paid') as bigint) as pending_orders,
        cast(count(delivery_seconds) as bigint) as delivery_count,
        cast({{ quantile_cont('delivery_seconds', 0.5) }} as double) as latency_p50_seconds,
        cast({{ quantile_cont('delivery_seconds', 0.95) }} as double) as latency_p95_seconds

    from orders
    where supplier_id is not null
    group by supplier_id, order_date

),

final as (

    select
        supplier_id,
        order_date,
        orders,
        cast(delivered_orders / orders as double) as success_rate,
        cast(failed_orders / orders as double) as failure_rate,
        cast(refunded_orders / orders as double) as refund_rate,
        latency_p50_seconds,
        latency_p95_seconds,
        delivered_orders,
        failed_orders,
        refunded_orders,
        pending_orders,
        delivery_count

    from daily

)

select * from final
