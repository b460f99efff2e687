-- One row per merchant (shop or agent), including merchants only seen in orders or as a parent.
with

merchants as (

    select * from {{ ref('int_merchants_known') }}

),

final as (

    select
        merchant_id,
        cast(merchant_name as {{ dbt.type_string() }}) as name,
        cast(tier as {{ dbt.type_string() }}) as tier,
        cast(parent_merchant_id as {{ dbt.type_string() }}) as parent_merchant_id,
        cast(region_code as {{ dbt.type_string() }}) as region_code,
        cast(joined_at as timestamp) as joined_at,
        is_listed,
        not is_listed as is_inferred

    from merchants

)

select * from final
