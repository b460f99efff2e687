-- One row per agent (sub-site / reseller): the latest load of the agents file, plus agents only
-- named by orders (is_listed false, no commission rule).
with

listed as (

    select * from (
        select
            *,
            row_number() over (partition by agent_id order by _loaded_at desc, _line desc)
                as load_rank
        from {{ ref('stg_cardpulse__agents') }}
    ) ranked
    where load_rank = 1

),

sold as (

    select
        agent_id,
        min(merchant_id) as merchant_id,
        min(case when {{ is_demand('status') }} then cast(created_at as date) end)
            as first_sale_date,
        max(case when {{ is_demand('status') }} then cast(created_at as date) end)
            as last_sale_date
    from {{ ref('stg_cardpulse__orders') }}
    where agent_id is not null
    group by agent_id

),

known as (

    select
        listed.agent_id,
        listed.merchant_id,
        listed.parent_agent_id,
        listed.commission_pct,
        listed.joined_at,
        true as is_listed
    from listed

    union all

    select
        sold.agent_id,
        sold.merchant_id,
        null as parent_agent_id,
        null as commission_pct,
        null as joined_at,
        false as is_listed
    from sold
    where sold.agent_id not in (select agent_id from listed)

),

final as (

    select
        known.agent_id,
        cast(known.merchant_id as {{ dbt.type_string() }}) as merchant_id,
        cast(known.parent_agent_id as {{ dbt.type_string() }}) as parent_agent_id,
        cast(known.commission_pct as double) as commission_pct,
        cast(known.joined_at as timestamp) as joined_at,
        sold.first_sale_date,
        sold.last_sale_date,
        known.is_listed,
        not known.is_listed as is_inferred

    from known
    left join sold on known.agent_id = sold.agent_id

)

select * from final
