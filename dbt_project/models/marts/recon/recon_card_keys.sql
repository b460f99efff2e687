{#- DuckDB only for now: the state macro (ops.recon_state, QUALIFY) is not portable to the
    Spark target yet (docs/scale.md). -#}
{{ config(enabled=(target.type != 'spark')) }}

-- Card keys against orders: a key delivered twice (a second delivered order carrying a paid
-- order's gateway trade number without a payment of its own: the duplicate callback that
-- delivers twice), and keys delivered naming a batch that is unknown, of another SKU, or not
-- yet received on the day of delivery. One row per discrepancy, with the state from earlier
-- builds (macros/recon_state.sql).
with

orders as (

    select
        order_id, merchant_id, supplier_id, sku_id, quantity, delivered_at, gateway_trade_no,
        card_batch_id, effective_unit_cost,
        cast(coalesce(paid_amount, quantity * unit_price) as decimal(18, 2)) as order_amount
    from {{ ref('fct_orders') }}

),

as_of as (

    select cast(max(order_date) + interval 1 day as date) as as_of_date
    from {{ ref('fct_orders') }}

),

paid_orders as (

    select distinct order_id from {{ ref('fct_payments') }} where is_success

),

batches as (

    select * from {{ ref('dim_card_batches') }}

),

twice as (

    select
        'key_delivered_twice' as kind,
        copies.order_id,
        min(original.order_id) as related_order_id,
        any_value(copies.card_batch_id) as batch_id,
        any_value(copies.supplier_id) as supplier_id,
        any_value(copies.merchant_id) as merchant_id,
        any_value(copies.sku_id) as sku_id,
        any_value(copies.quantity) as keys,
        any_value(copies.order_amount) as amount,
        any_value(copies.delivered_at) as occurred_at
    from orders as copies
    join orders as original
        on copies.gateway_trade_no = original.gateway_trade_no
        and copies.order_id <> original.order_id
    join paid_orders on paid_orders.order_id = original.order_id
    where copies.delivered_at is not null
      and copies.order_id not in (select order_id from paid_orders)
    group by copies.order_id

),

mismatched as (

    select
        'batch_mismatch' as kind,
        orders.order_id,
        null as related_order_id,
        orders.card_batch_id as batch_id,
        coalesce(batches.supplier_id, orders.supplier_id) as supplier_id,
        orders.merchant_id,
        orders.sku_id,
        orders.quantity as keys,
        cast(orders.quantity * coalesce(batches.unit_cost, orders.effective_unit_cost)
            as decimal(18, 2)) as amount,
        orders.delivered_at as occurred_at
    from orders
    left join batches on orders.card_batch_id = batches.batch_id
    where orders.card_batch_id is not null
      and orders.delivered_at is not null
      and (
          batches.batch_id is null
          or batches.sku_id <> orders.sku_id
          or cast(orders.delivered_at as date) < batches.received_date
      )

),

found as (

    select
        kind || ':' || order_id as discrepancy_id,
        kind, order_id, related_order_id, batch_id, supplier_id, merchant_id,
        cast(amount as decimal(18, 2)) as amount, sku_id, cast(keys as bigint) as keys,
        occurred_at
    from (select * from twice union all select * from mismatched) as both_kinds

),

{{ recon_with_state('card_keys') }},

final as (

    select
        current_found.discrepancy_id, current_found.kind, current_found.order_id,
        current_found.related_order_id, current_found.batch_id, current_found.sku_id,
        current_found.supplier_id, current_found.merchant_id, current_found.keys,
        current_found.amount, current_found.occurred_at, current_found.first_seen,
        current_found.status, as_of.as_of_date
    from current_found cross join as_of

    union all

    select
        resolved.discrepancy_id, resolved.kind, resolved.order_id, resolved.related_order_id,
        resolved.batch_id, null, resolved.supplier_id, resolved.merchant_id, null,
        resolved.amount, null, resolved.first_seen, resolved.status, as_of.as_of_date
    from resolved cross join as_of

)

select * from final
