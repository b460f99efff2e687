-- One row per card-key batch (latest load), with the keys sold from it so far: demand orders
-- naming the batch, refunded ones excluded. A batch of loop keys is never used up.
with

batches as (

    select * from (
        select
            *,
            row_number() over (partition by batch_id order by _loaded_at desc, _line desc)
                as load_rank
        from {{ ref('stg_cardpulse__card_batches') }}
    ) ranked
    where load_rank = 1

),

sold as (

    select card_batch_id as batch_id, cast(sum(quantity) as integer) as keys_sold
    from {{ ref('fct_orders') }}
    where is_demand and not is_refunded and card_batch_id is not null
    group by card_batch_id

),

final as (

    select
        batches.batch_id,
        batches.sku_id,
        batches.supplier_id,
        batches.keys,
        batches.unit_cost,
        cast(batches.keys * batches.unit_cost as decimal(18, 2)) as batch_cost,
        batches.received_at,
        batches.received_date,
        batches.expires_at,
        coalesce(sold.keys_sold, 0) as keys_sold,
        case
            when batches.is_loop then batches.keys
            else batches.keys - coalesce(sold.keys_sold, 0)
        end as keys_left,
        batches.is_loop

    from batches
    left join sold on batches.batch_id = sold.batch_id

)

select * from final
