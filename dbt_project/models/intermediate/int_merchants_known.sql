-- Every merchant the warehouse knows of: the merchants file (latest load per merchant), plus any
-- merchant that only appears as an order's seller or as a parent, so that every order has a
-- merchant row and every merchant sits in the hierarchy (is_listed = false for those).
with

listed as (

    select * from {{ ref('stg_cardpulse__merchants') }}
    qualify row_number() over (
        partition by merchant_id
        order by _loaded_at desc, _line desc
    ) = 1

),

referenced as (

    select distinct merchant_id from {{ ref('stg_cardpulse__orders') }}
    union
    select distinct parent_merchant_id from listed where parent_merchant_id is not null

),

known as (

    select
        merchant_id,
        merchant_name,
        tier,
        parent_merchant_id,
        region_code,
        joined_at,
        true as is_listed
    from listed

    union all

    select
        merchant_id,
        merchant_id as merchant_name,
        null as tier,
        null as parent_merchant_id,
        null as region_code,
        null as joined_at,
        false as is_listed
    from referenced
    where merchant_id not in (select merchant_id from listed)

)

select * from known
