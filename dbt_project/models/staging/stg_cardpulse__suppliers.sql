with

source as (

    select * from {{ source('cardpulse', 'suppliers') }}

),

renamed as (

    select
        supplier_id,
        name as supplier_name,
        cast(lead_time_hours as double) as lead_time_hours,
        cast(min_order_qty as integer) as min_order_qty,
        cast(batch_size as integer) as batch_size,
        _file_id,
        _line,
        _loaded_at

    from source

)

select * from renamed
