with

source as (

    select * from {{ source('cardpulse', 'skus') }}

),

renamed as (

    select
        sku_id,
        name as sku_name,
        lower(trim(category)) as category,
        brand,
        cast(face_value as decimal(18, 2)) as face_value,
        lower(trim(delivery_type)) as delivery_type,
        supplier_id,
        cast(shelf_life_days as integer) as shelf_life_days,
        active as is_active,
        _file_id,
        _line,
        _loaded_at

    from source

)

select * from renamed
