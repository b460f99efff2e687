with

source as (

    select * from {{ source('cardpulse', 'supplier_balances') }}

),

renamed as (

    select
        as_of as snapshot_at,
        cast(as_of as date) as snapshot_date,
        supplier_id,
        cast(balance as decimal(18, 2)) as balance,
        _file_id,
        _line,
        _loaded_at

    from source

)

select * from renamed
