{#- DuckDB replaces changed orders by order_id (delete+insert); Spark, whose plain Parquet
    tables cannot delete rows, overwrites the business days that hold a changed order
    (insert_overwrite on partitions by order_date). -#}
{% if target.type == 'spark' %}
{{
    config(
        materialized='incremental',
        incremental_strategy='insert_overwrite',
        partition_by=['order_date'],
        file_format='parquet',
        on_schema_change='append_new_columns'
    )
}}
{% else %}
{{
    config(
        materialized='incremental',
        unique_key='order_id',
        incremental_strategy='delete+insert',
        on_schema_change='append_new_columns'
    )
}}
{% endif %}

{%- set order_columns = [
    'order_id', 'created_at', 'updated_at', 'paid_at', 'delivered_at', 'merchant_id', 'sku_id',
    'quantity', 'unit_price', 'unit_cost', 'list_price', 'status', 'region_code', 'region_raw',
    'channel', 'supplier_id', 'buyer_id', 'payment_method', 'paid_amount', 'payment_channel',
    'payment_fee', 'coupon_code', 'discount_amount', 'agent_id', 'agent_commission',
    'delivery_mode', 'gateway_trade_no', 'card_batch_id', 'buyer_key', 'buyer_ip_key',
    '_file_id', '_line', '_loaded_at'
] -%}

-- One row per order with the contract's measures. Incremental on the raw _loaded_at: ingestion
-- upserts a later version of an order (e.g. paid -> refunded) with a newer _loaded_at, so that
-- version is picked up here and replaces the old row.
with

{% if is_incremental() %}
changed as (

    select * from {{ ref('stg_cardpulse__orders') }}
    -- An empty table has no watermark: then every row is new.
    where _loaded_at > coalesce((select max(_loaded_at) from {{ this }}), {{ before_any_order() }})
        -- Orders priced from price_changes (no own cost or list price) are re-priced when
        -- price changes were loaded after the newest order this table holds.
        or (
            (unit_cost is null or list_price is null)
            and (select max(_loaded_at) from {{ ref('int_price_history') }})
                > coalesce((select max(_loaded_at) from {{ this }}), {{ before_any_order() }})
        )

),
{% endif %}

orders as (

    {% if is_incremental() and target.type == 'spark' %}
    -- Whole days: the partitions overwritten must hold every order of their day.
    select * from {{ ref('stg_cardpulse__orders') }}
    where cast(created_at as date) in (select distinct cast(created_at as date) from changed)
    {% elif is_incremental() %}
    select * from changed
    {% else %}
    select * from {{ ref('stg_cardpulse__orders') }}
    {% endif %}

),

regional_prices as (

    select * from {{ ref('int_price_history') }}
    where region_code is not null

),

all_region_prices as (

    select * from {{ ref('int_price_history') }}
    where region_code is null

),

-- Most orders carry their own cost and list price; only the others need a price lookup, which
-- keeps the ASOF joins off the bulk of the table.
self_priced as (

    select
        {{ order_columns | join(', ') }},
        list_price as effective_list_price,
        unit_cost as effective_unit_cost
    from orders
    where unit_cost is not null and list_price is not null

),

unpriced as (

    select * from orders
    where unit_cost is null or list_price is null

),

-- The price change in effect when the order was placed, for the order's region and for
-- every region; the later of the two applies, the regional one on a tie.
with_regional as (

    {{ price_in_effect('unpriced', 'regional_prices', 'regional', by_region=true) }}

),

with_everywhere as (

    {{ price_in_effect('with_regional', 'all_region_prices', 'everywhere', by_region=false) }}

),

looked_up as (

    select
        {{ order_columns | join(', ') }},
        case
            when list_price is not null then list_price
            when regional_effective_at >= everywhere_effective_at
                or everywhere_effective_at is null then regional_list_price
            else everywhere_list_price
        end as effective_list_price,
        case
            when unit_cost is not null then unit_cost
            when regional_cost_effective_at >= everywhere_cost_effective_at
                or everywhere_cost_effective_at is null then regional_unit_cost
            else everywhere_unit_cost
        end as effective_unit_cost

    from with_everywhere

),

priced as (

    select * from self_priced
    union all
    select * from looked_up

),

measured as (

    select
        *,
        cast(created_at as date) as order_date,
        {{ is_demand('status') }} as is_demand,
        status = 'refunded' as is_refunded,
        status = 'failed' as is_failed,
        coalesce(paid_amount, quantity * unit_price) as order_total

    from priced

),

final as (

    select
        order_id,
        created_at,
        updated_at,
        paid_at,
        delivered_at,
        merchant_id,
        sku_id,
        quantity,
        unit_price,
        unit_cost,
        list_price,
        status,
        region_code,
        region_raw,
        channel,
        supplier_id,
        buyer_id,
        payment_method,
        paid_amount,
        payment_channel,
        payment_fee,
        coupon_code,
        discount_amount,
        agent_id,
        agent_commission,
        delivery_mode,
        gateway_trade_no,
        card_batch_id,
        buyer_key,
        buyer_ip_key,
        order_date,
        is_demand,
        is_refunded,
        is_failed,
        -- The paid total when the source gives it (exact to the fen), else quantity x price.
        cast(case when is_demand then order_total else 0 end as decimal(18, 2))
            as gross_revenue,
        cast(case when is_demand and not is_refunded then order_total else 0 end
            as decimal(18, 2)) as net_revenue,
        -- NULL when no cost is known for a demand order: unknown, not zero.
        cast(case when is_demand then order_total - quantity * effective_unit_cost else 0 end
            as decimal(18, 2)) as gross_margin,
        cast(effective_unit_cost as decimal(18, 2)) as effective_unit_cost,
        case
            when unit_cost is not null then 'order'
            when effective_unit_cost is not null then 'price_change'
        end as unit_cost_source,
        cast(effective_list_price as decimal(18, 2)) as effective_list_price,
        case
            when delivered_at is not null
                then {{ dbt.datediff('coalesce(paid_at, created_at)', 'delivered_at', 'second') }}
        end as delivery_seconds,
        _file_id,
        _line,
        _loaded_at

    from measured

)

select * from final
