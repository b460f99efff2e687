-- Orders as ingested: rename, cast and normalise only. Timestamps are Shanghai wall time already.
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
        region_raw,
        lower(trim(channel)) as channel,
        supplier_id,
        buyer_id,
        payment_method,
        cast(paid_amount as decimal(18, 2)) as paid_amount,
        nullif(lower(trim(payment_channel)), '') as payment_channel,
        cast(payment_fee as decimal(18, 2)) as payment_fee,
        nullif(trim(coupon_code), '') as coupon_code,
        cast(discount_amount as decimal(18, 2)) as discount_amount,
        nullif(trim(agent_id), '') as agent_id,
        cast(agent_commission as decimal(18, 2)) as agent_commission,
        lower(trim(delivery_mode)) as delivery_mode,
        gateway_trade_no,
        card_batch_id,
        buyer_key,
        buyer_ip_key,
        -- the delivered keys' ids, comma-separated (int_order_card_keys splits them)
        nullif(trim(card_key_ids), '') as card_key_ids,
        _file_id,
        _line,
        _loaded_at

    from source

)

select * from renamed
