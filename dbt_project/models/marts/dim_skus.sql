-- One row per SKU: the latest load of the skus file, plus an inferred member for each SKU only
-- seen in orders (is_inferred, named after its id, category 'unknown'), so that no order loses
-- its SKU in a join; the real row replaces it when the skus file brings it.
with

listed as (

    select * from {{ ref('stg_cardpulse__skus') }}
    qualify row_number() over (
        partition by sku_id
        order by _loaded_at desc, _line desc
    ) = 1

),

ordered_only as (

    select distinct sku_id from {{ ref('stg_cardpulse__orders') }}
    where sku_id not in (select sku_id from listed)

),

sales_span as (

    select
        sku_id,
        min(order_date) as first_sale_date,
        max(order_date) as last_sale_date
    from {{ ref('fct_daily_sku_sales') }}
    group by sku_id

),

known as (

    select
        sku_id,
        sku_name as name,
        category,
        brand,
        face_value,
        delivery_type,
        supplier_id,
        shelf_life_days,
        is_active as active,
        true as is_listed
    from listed

    union all

    select
        sku_id,
        sku_id as name,
        'unknown' as category,
        null as brand,
        null as face_value,
        null as delivery_type,
        null as supplier_id,
        null as shelf_life_days,
        null as active,
        false as is_listed
    from ordered_only

),

final as (

    select
        known.sku_id,
        known.name,
        known.category,
        known.brand,
        cast(known.face_value as decimal(18, 2)) as face_value,
        known.delivery_type,
        known.supplier_id,
        cast(known.shelf_life_days as integer) as shelf_life_days,
        cast(known.active as boolean) as active,
        sales_span.first_sale_date,
        sales_span.last_sale_date,
        known.is_listed,
        not known.is_listed as is_inferred

    from known
    left join sales_span on known.sku_id = sales_span.sku_id

)

select * from final
