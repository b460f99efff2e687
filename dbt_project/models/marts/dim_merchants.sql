-- One row per merchant (shop or agent), including merchants only seen in orders or as a parent.
with

merchants as (

    select * from {{ ref('int_merchants_known') }}

),

final as (

    select
        merchant_id,
        cast(merchant_name as varchar) as name,
        cast(tier as varchar) as tier,
        cast(parent_merchant_id as varchar) as parent_merchant_id,
        cast(region_code as varchar) as region_code,
        cast(joined_at as timestamp) as joined_at,
        is_listed,
        not is_listed as is_inferred

    from merchants

)

select * from final
