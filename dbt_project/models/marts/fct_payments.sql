-- One row per payment attempt and order row it pays (an attempt for a multi-item dujiao-next
-- order is split over its item rows: int_payments_by_order_row), with the order's merchant,
-- agent and SKU. The channel is the attempt's own, else the order's payment_channel.
-- Incremental: a run rebuilds only the payment days that changed (macros/incremental_days.sql).
-- depends_on: {{ ref('stg_cardpulse__payments') }}
{{ daily_incremental_config(days='payment_days_to_rebuild()', day_column='payment_date') }}

with

payments as (

    select * from {{ ref('int_payments_by_order_row') }}
    {% if is_incremental() %}
        where coalesce(cast(created_at as date), {{ no_day() }})
            in ({{ payment_days_to_rebuild() }})
    {% endif %}

),

orders as (

    select order_id, merchant_id, agent_id, sku_id, payment_channel, _loaded_at
    from {{ ref('fct_orders') }}

),

final as (

    select
        payments.payment_id,
        payments.attempt_id,
        payments.order_id,
        orders.merchant_id,
        orders.agent_id,
        orders.sku_id,
        coalesce(payments.payment_channel, orders.payment_channel, 'unknown') as payment_channel,
        payments.status,
        payments.status in ('success', 'refunded') as is_success,
        payments.amount,
        coalesce(payments.fee, cast(0 as decimal(18, 2))) as fee,
        payments.created_at,
        payments.callback_at,
        cast(payments.created_at as date) as payment_date,
        {{ dbt.datediff('payments.created_at', 'payments.callback_at', 'second') }}
            as callback_seconds,
        payments.gateway_trade_no,
        payments.is_split,
        orders.order_id is not null as has_order,
        -- The newer raw load of the payment and its order: what the next incremental run
        -- compares against (macros/incremental_days.sql).
        greatest(payments._loaded_at, coalesce(orders._loaded_at, payments._loaded_at))
            as _loaded_at

    from payments
    left join orders on payments.order_id = orders.order_id

)

select * from final
