-- The dashboard's row-level filter relies on it: each merchant has exactly one depth-0 row, to
-- itself, and depth 0 means nothing else. (meta.dagster.ref: Dagster shows it as a check on
-- dim_merchant_hierarchy.)
{{ config(meta={'dagster': {'ref': {'name': 'dim_merchant_hierarchy'}}}) }}

select merchants.merchant_id, count(hierarchy.merchant_id) as self_rows
from {{ ref('dim_merchants') }} as merchants
left join {{ ref('dim_merchant_hierarchy') }} as hierarchy
    on hierarchy.merchant_id = merchants.merchant_id
    and hierarchy.depth = 0
group by merchants.merchant_id
having count(hierarchy.merchant_id) <> 1
    or bool_or(hierarchy.ancestor_merchant_id <> hierarchy.merchant_id)
