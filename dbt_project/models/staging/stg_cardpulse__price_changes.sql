with

source as (

    select * from {{ source('cardpulse', 'price_changes') }}

),

renamed as (

    select
        sku_id,
        -- NULL region means the change applies to every region.
        nullif(upper(trim(region_code)), '') as region_code,
        effective_at,
        cast(list_price as decimal(18, 2)) as list_price,
        cast(unit_cost as decimal(18, 2)) as unit_cost,
        _file_id,
        _line,
        _loaded_at

    from source

)

select * from renamed
