-- Card-key batches as ingested, with the business day each was received.
with

source as (

    select * from {{ source('cardpulse', 'card_batches') }}

),

renamed as (

    select
        batch_id,
        sku_id,
        supplier_id,
        cast(keys as integer) as keys,
        cast(unit_cost as decimal(18, 2)) as unit_cost,
        received_at,
        cast(received_at as date) as received_date,
        expires_at,
        coalesce(cast(is_loop as boolean), false) as is_loop,
        _file_id,
        _line,
        _loaded_at

    from source

)

select * from renamed
