with

source as (

    select * from {{ source('cardpulse', 'events') }}

),

renamed as (

    select
        trim(name) as event_name,
        start_date,
        end_date,
        trim(scope) as scope,
        _file_id,
        _line,
        _loaded_at

    from source

)

select * from renamed
