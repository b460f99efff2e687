-- Payment attempts as ingested: rename, cast and normalise only.
with

source as (

    select * from {{ source('cardpulse', 'payments') }}

),

renamed as (

    select
        payment_id,
        order_id,
        nullif(lower(trim(channel)), '') as payment_channel,
        cast(amount as decimal(18, 2)) as amount,
        cast(fee as decimal(18, 2)) as fee,
        lower(trim(status)) as status,
        created_at,
        callback_at,
        gateway_trade_no,
        _file_id,
        _line,
        _loaded_at

    from source

)

select * from renamed
