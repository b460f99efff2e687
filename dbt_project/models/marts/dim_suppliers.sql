-- One row per supplier: the suppliers file (latest load), plus suppliers only named by SKUs,
-- orders, inventory or balances (is_listed = false).
with

listed as (

    select * from {{ ref('stg_cardpulse__suppliers') }}
    qualify row_number() over (
        partition by supplier_id
        order by _loaded_at desc, _line desc
    ) = 1

),

referenced as (

    select supplier_id from {{ ref('stg_cardpulse__skus') }}
    union
    select supplier_id from {{ ref('stg_cardpulse__orders') }}
    union
    select supplier_id from {{ ref('stg_cardpulse__inventory_snapshots') }}
    union
    select supplier_id from {{ ref('stg_cardpulse__supplier_balance_snapshots') }}

),

known as (

    select
        supplier_id,
        supplier_name as name,
        lead_time_hours,
        min_order_qty,
        batch_size,
        true as is_listed
    from listed

    union all

    select
        supplier_id,
        supplier_id as name,
        null as lead_time_hours,
        null as min_order_qty,
        null as batch_size,
        false as is_listed
    from referenced
    where supplier_id is not null
        and supplier_id not in (select supplier_id from listed)

),

final as (

    select
        supplier_id,
        cast(name as {{ dbt.type_string() }}) as name,
        cast(lead_time_hours as double) as lead_time_hours,
        cast(min_order_qty as integer) as min_order_qty,
        cast(batch_size as integer) as batch_size,
        is_listed,
        not is_listed as is_inferred

    from known

)

select * from final
