-- Promotions, launches and season starts forecasting uses, one row per distinct event.
with

events as (

    select * from {{ ref('stg_cardpulse__events') }}
    qualify row_number() over (
        partition by event_name, start_date, end_date, scope
        order by _loaded_at desc, _line desc
    ) = 1

),

final as (

    select
        event_name as name,
        start_date,
        end_date,
        scope,
        cast({{ dbt.datediff('start_date', 'end_date', 'day') }} + 1 as integer) as duration_days

    from events

)

select * from final
