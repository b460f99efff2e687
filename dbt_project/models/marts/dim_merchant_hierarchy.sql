-- The agent tree's closure: one row per (ancestor, merchant) pair, every merchant its own
-- ancestor at depth 0. A merchant user bound to M sees the rows whose merchant_id is in
-- (select merchant_id from dim_merchant_hierarchy where ancestor_merchant_id = M).
with recursive

merchants as (

    select merchant_id, parent_merchant_id from {{ ref('int_merchants_known') }}

),

paths (ancestor_merchant_id, merchant_id, depth, visited) as (

    select merchant_id, merchant_id, 0, {{ dbt.array_construct(['merchant_id']) }}
    from merchants

    union all

    select
        ancestor.parent_merchant_id,
        paths.merchant_id,
        paths.depth + 1,
        {{ dbt.array_append('paths.visited', 'ancestor.parent_merchant_id') }}
    from paths
    inner join merchants as ancestor
        on ancestor.merchant_id = paths.ancestor_merchant_id
    where ancestor.parent_merchant_id is not null
        -- A cycle in bad data ends the walk instead of looping forever.
        and not {{ array_has('paths.visited', 'ancestor.parent_merchant_id') }}

),

final as (

    select
        cast(ancestor_merchant_id as {{ dbt.type_string() }}) as ancestor_merchant_id,
        cast(merchant_id as {{ dbt.type_string() }}) as merchant_id,
        cast(depth as integer) as depth

    from paths

)

select * from final
