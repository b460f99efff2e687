-- Orders against payment attempts, as of the build's day (macros/recon_state.sql): paid but never
-- delivered (older than var recon_undelivered_hours), delivered without a successful payment,
-- paid twice, the gateway's amount differing from the order's, refunded without a payment.
-- Runs only when payment attempts are loaded at all. One row per discrepancy, with the state
-- from earlier builds (macros/recon_state.sql).
with

orders as (

    select
        order_id,
        merchant_id,
        supplier_id,
        sku_id,
        status,
        paid_at,
        delivered_at,
        gateway_trade_no,
        paid_amount,
        cast(coalesce(paid_amount, quantity * unit_price) as decimal(18, 2)) as order_amount
    from {{ ref('fct_orders') }}

),

{{ recon_as_of() }},

has_payments as (

    select count(*) > 0 as has_payments from {{ ref('fct_payments') }}

),

paid as (

    -- Successful attempts per order (a refunded attempt had succeeded first).
    select
        order_id,
        count(*) as successes,
        cast(sum(amount) as decimal(18, 2)) as paid_total,
        cast(min_by(amount, created_at) as decimal(18, 2)) as first_amount,
        min(created_at) as first_paid_at,
        max(created_at) as last_paid_at
    from {{ ref('fct_payments') }}
    where is_success
    group by order_id

),

shared_trade as (

    -- A delivered order without a payment of its own that shares its gateway trade number
    -- with a paid one is a duplicate delivery: recon_card_keys reports it.
    select distinct copies.order_id
    from orders as copies
    join orders as original
        on copies.gateway_trade_no = original.gateway_trade_no
        and copies.order_id <> original.order_id
    join paid on paid.order_id = original.order_id
    where copies.delivered_at is not null

),

checked as (

    select
        orders.*,
        coalesce(paid.successes, 0) as successes,
        paid.paid_total,
        paid.first_amount,
        paid.first_paid_at,
        paid.last_paid_at,
        cast({{ seconds_between('orders.paid_at', 'as_of.data_end_at') }} as double) / 3600
            as hours_since_paid
    from orders
    cross join as_of
    left join paid on orders.order_id = paid.order_id
    where (select has_payments from has_payments)

),

found_rows as (

    select 'paid_not_delivered' as kind, order_id, order_amount as amount, paid_at as occurred_at,
        hours_since_paid as age_hours, merchant_id, supplier_id, sku_id
    from checked
    where status = 'paid' and delivered_at is null
      and hours_since_paid > {{ var('recon_undelivered_hours', 24) }}

    union all

    select 'delivered_without_payment', order_id, order_amount, delivered_at, null,
        merchant_id, supplier_id, sku_id
    from checked
    where delivered_at is not null and successes = 0 and status <> 'refunded'
      and order_id not in (select order_id from shared_trade)

    union all

    select 'paid_twice', order_id, cast(paid_total - first_amount as decimal(18, 2)),
        last_paid_at, null, merchant_id, supplier_id, sku_id
    from checked
    where successes >= 2

    union all

    select 'amount_mismatch', order_id, cast(abs(paid_amount - paid_total) as decimal(18, 2)),
        first_paid_at, null, merchant_id, supplier_id, sku_id
    from checked
    where successes = 1 and paid_amount is not null and paid_amount <> paid_total

    union all

    select 'refund_without_payment', order_id, order_amount, paid_at, null,
        merchant_id, supplier_id, sku_id
    from checked
    where status = 'refunded' and successes = 0

),

found_payment_ids as (

    -- The successful attempts of the orders found only: ordering every order's attempts into
    -- a list cost more than all the checks above (19 M payments: 32 s against 14 s).
    select order_id, {{ ordered_string_agg('payment_id', 'created_at') }} as payment_ids
    from {{ ref('fct_payments') }}
    where is_success and order_id in (select order_id from found_rows)
    group by order_id

),

found as (

    select
        kind || ':' || found_rows.order_id as discrepancy_id,
        kind,
        found_rows.order_id,
        cast(null as {{ dbt.type_string() }}) as related_order_id,
        cast(null as {{ dbt.type_string() }}) as batch_id,
        supplier_id,
        merchant_id,
        cast(amount as decimal(18, 2)) as amount,
        sku_id,
        occurred_at,
        age_hours,
        found_payment_ids.payment_ids
    from found_rows
    left join found_payment_ids on found_rows.order_id = found_payment_ids.order_id

),

{{ recon_with_state('orders_payments') }},

final as (

    select
        current_found.discrepancy_id,
        current_found.kind,
        current_found.order_id,
        current_found.merchant_id,
        current_found.supplier_id,
        current_found.sku_id,
        current_found.payment_ids,
        current_found.amount,
        current_found.occurred_at,
        cast(current_found.age_hours as double) as age_hours,
        current_found.first_seen,
        current_found.status,
        as_of.as_of_date
    from current_found cross join as_of

    union all

    select
        resolved.discrepancy_id, resolved.kind, resolved.order_id, resolved.merchant_id,
        resolved.supplier_id, null, null, resolved.amount, null, null, resolved.first_seen,
        resolved.status, as_of.as_of_date
    from resolved cross join as_of

)

select * from final
