-- Agents (sub-sites / resellers) as ingested; a self-referencing parent is a root.
with

source as (

    select * from {{ source('cardpulse', 'agents') }}

),

renamed as (

    select
        agent_id,
        merchant_id,
        case
            when nullif(trim(parent_agent_id), '') = agent_id then null
            else nullif(trim(parent_agent_id), '')
        end as parent_agent_id,
        cast(commission_pct as double) as commission_pct,
        joined_at,
        _file_id,
        _line,
        _loaded_at

    from source

)

select * from renamed
