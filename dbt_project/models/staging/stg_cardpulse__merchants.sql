with

source as (

    select * from {{ source('cardpulse', 'merchants') }}

),

renamed as (

    select
        merchant_id,
        name as merchant_name,
        tier,
        -- An empty parent is no parent; a merchant naming itself as parent is a root.
        case
            when nullif(trim(parent_merchant_id), '') = merchant_id then null
            else nullif(trim(parent_merchant_id), '')
        end as parent_merchant_id,
        upper(trim(region_code)) as region_code,
        joined_at,
        _file_id,
        _line,
        _loaded_at

    from source

)

select * from renamed
