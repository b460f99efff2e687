-- Orders as ingested: rename, cast and normalise only. Timestamps are Shanghai wall time already.
-- The whole-order columns are optional in raw.orders (added when a file first carries them).
{%- set stored = stored_columns(source('cardpulse', 'orders')) %}
{%- set money = 'decimal(18, 2)' %}
{%- set text = dbt.type_string() %}
with

source as (

    select * from {{ source('cardpulse', 'orders') }}

),

renamed as (

    select
        order_id,
        created_at,
        updated_at,
        paid_at,
        delivered_at,
        merchant_id,
        sku_id,
        cast(quantity as integer) as quantity,
        cast(unit_price as decimal(18, 2)) as unit_price,
        cast(unit_cost as decimal(18, 2)) as unit_cost,
        cast(list_price as decimal(18, 2)) as list_price,
        lower(trim(status)) as status,
        upper(trim(region_code)) as region_code,
        -- ingest keeps no copy of a spelling that is the ISO code already
        coalesce(region_raw, case when region_code <> 'UNKNOWN' then region_code end)
            as region_raw,
        lower(trim(channel)) as channel,
        supplier_id,
        buyer_id,
        payment_method,
        {{ optional_column(stored, 'paid_amount', money) }} as paid_amount,
        nullif(lower(trim({{ optional_column(stored, 'payment_channel', text) }})), '')
            as payment_channel,
        {{ optional_column(stored, 'payment_fee', money) }} as payment_fee,
        nullif(trim({{ optional_column(stored, 'coupon_code', text) }}), '') as coupon_code,
        {{ optional_column(stored, 'discount_amount', money) }} as discount_amount,
        nullif(trim({{ optional_column(stored, 'agent_id', text) }}), '') as agent_id,
        {{ optional_column(stored, 'agent_commission', money) }} as agent_commission,
        lower(trim({{ optional_column(stored, 'delivery_mode', text) }})) as delivery_mode,
        {{ optional_column(stored, 'gateway_trade_no', text) }} as gateway_trade_no,
        {{ optional_column(stored, 'card_batch_id', text) }} as card_batch_id,
        {{ optional_column(stored, 'buyer_key', text) }} as buyer_key,
        {{ optional_column(stored, 'buyer_ip_key', text) }} as buyer_ip_key,
        -- the delivered keys' ids, comma-separated (int_order_card_keys splits them)
        nullif(trim({{ optional_column(stored, 'card_key_ids', text) }}), '') as card_key_ids,
        _file_id,
        _line,
        _loaded_at

    from source

)

select * from renamed
