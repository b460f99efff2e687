with

source as (

    select * from {{ source('cardpulse', 'inventory') }}

),

renamed as (

    select
        as_of as snapshot_at,
        cast(as_of as date) as snapshot_date,
        sku_id,
        supplier_id,
        cast(on_hand as integer) as on_hand,
        cast(on_order as integer) as on_order,
        cast(expiring_7d as integer) as expiring_7d,
        _file_id,
        _line,
        _loaded_at

    from source

)

select * from renamed
