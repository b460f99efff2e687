-- Card keys against orders, as of the build's day (macros/recon_state.sql):
-- - key_delivered_twice: a second delivered order carrying a paid order's gateway trade number
--   without a payment of its own (the duplicate callback that delivers twice);
-- - key_delivered_to_two_orders: a key id (orders.card_key_ids, int_order_card_keys) on a
--   delivered order after it was delivered to another one (`related_order_id`, the first);
--   loop keys (`loop:` ids, or a batch flagged is_loop) are sold again by design and never
--   reported; amount = the order's amount for the reused keys (its share of keys, to the fen);
-- - batch_mismatch: keys delivered naming a batch that is unknown, of another SKU, or not yet
--   received on the day of delivery;
-- - batch draw-down, per batch, from the keys of the other delivered orders naming it:
--   batch_overdrawn (more keys delivered than the batch holds; amount = the excess at the
--   batch's unit cost), batch_never_drawn (no key delivered while a batch of the same SKU
--   received later has been drawn: keys are sold oldest batch first; amount = the batch's
--   cost), batch_cost_mismatch (the cost the orders book for the batch's keys differs from the
--   batch's unit cost; amount = the difference in yuan).
-- One row per discrepancy, with the state from earlier builds.
with

orders as (

    select
        order_id, merchant_id, supplier_id, sku_id, quantity, delivered_at, gateway_trade_no,
        card_batch_id, unit_cost, effective_unit_cost,
        cast(coalesce(paid_amount, quantity * unit_price) as decimal(18, 2)) as order_amount
    from {{ ref('fct_orders') }}

),

{{ recon_as_of() }},

{%- set batch_columns = adapter.get_columns_in_relation(ref('dim_card_batches')) if execute else [] %}
{%- set batches_flag_loops = 'is_loop' in (batch_columns | map(attribute='name') | map('lower') | list) %}

paid_orders as (

    select distinct order_id from {{ ref('fct_payments') }} where is_success

),

batches as (

    select * from {{ ref('dim_card_batches') }}

),

twice as (

    select
        'key_delivered_twice' as kind,
        copies.order_id,
        min(original.order_id) as related_order_id,
        min(copies.card_batch_id) as batch_id,
        min(copies.supplier_id) as supplier_id,
        min(copies.merchant_id) as merchant_id,
        min(copies.sku_id) as sku_id,
        min(copies.quantity) as keys,
        min(copies.order_amount) as amount,
        min(copies.delivered_at) as occurred_at
    from orders as copies
    join orders as original
        on copies.gateway_trade_no = original.gateway_trade_no
        and copies.order_id <> original.order_id
    join paid_orders on paid_orders.order_id = original.order_id
    where copies.delivered_at is not null
      and copies.order_id not in (select order_id from paid_orders)
    group by copies.order_id

),

order_keys as (

    -- The keys delivered orders name, but loop keys (sold again and again by design) and the
    -- orders already reported as a duplicate delivery above.
    select keys.order_id, keys.card_key_id, keys.delivered_at
    from {{ ref('int_order_card_keys') }} as keys
    {%- if batches_flag_loops %}
    left join batches as loop_batches
        on keys.card_batch_id = loop_batches.batch_id and loop_batches.is_loop
    {%- endif %}
    where keys.delivered_at is not null
      and not keys.is_loop_key
      and keys.order_id not in (select order_id from twice)
      {%- if batches_flag_loops %}
      and loop_batches.batch_id is null
      {%- endif %}

),

first_delivery as (

    -- The order each key went to first.
    select card_key_id, order_id as first_order_id
    from (
        select
            card_key_id, order_id,
            row_number() over (
                partition by card_key_id order by delivered_at, order_id
            ) as delivery_number
        from order_keys
    ) as numbered
    where delivery_number = 1

),

reused_keys as (

    select
        order_keys.order_id,
        min(first_delivery.first_order_id) as related_order_id,
        count(*) as keys
    from order_keys
    join first_delivery
        on order_keys.card_key_id = first_delivery.card_key_id
        and order_keys.order_id <> first_delivery.first_order_id
    group by order_keys.order_id

),

reused as (

    select
        'key_delivered_to_two_orders' as kind,
        orders.order_id,
        reused_keys.related_order_id,
        orders.card_batch_id as batch_id,
        orders.supplier_id,
        orders.merchant_id,
        orders.sku_id,
        reused_keys.keys,
        -- the order's amount for its reused keys, to the fen (all of it when every key is)
        case
            when reused_keys.keys >= orders.quantity then orders.order_amount
            else cast(round(
                cast(orders.order_amount * 100 as bigint) * reused_keys.keys
                / cast(orders.quantity as double)
            ) / 100 as decimal(18, 2))
        end as amount,
        orders.delivered_at as occurred_at
    from reused_keys
    join orders on reused_keys.order_id = orders.order_id

),

mismatched as (

    select
        'batch_mismatch' as kind,
        orders.order_id,
        cast(null as {{ dbt.type_string() }}) as related_order_id,
        orders.card_batch_id as batch_id,
        coalesce(batches.supplier_id, orders.supplier_id) as supplier_id,
        orders.merchant_id,
        orders.sku_id,
        orders.quantity as keys,
        cast(orders.quantity * coalesce(batches.unit_cost, orders.effective_unit_cost)
            as decimal(18, 2)) as amount,
        orders.delivered_at as occurred_at
    from orders
    left join batches on orders.card_batch_id = batches.batch_id
    where orders.card_batch_id is not null
      and orders.delivered_at is not null
      and (
          batches.batch_id is null
          or batches.sku_id <> orders.sku_id
          or cast(orders.delivered_at as date) < batches.received_date
      )

),

drawn as (

    -- Keys delivered from each batch by the orders not reported above (a reused key was not
    -- drawn again).
    select
        orders.card_batch_id as batch_id,
        sum(orders.quantity - coalesce(reused.keys, 0)) as keys_drawn,
        sum(case when orders.unit_cost is not null
            then orders.quantity - coalesce(reused.keys, 0) end) as keys_costed,
        sum((orders.quantity - coalesce(reused.keys, 0)) * orders.unit_cost) as booked_cost,
        max(orders.delivered_at) as last_delivered_at
    from orders
    left join reused on orders.order_id = reused.order_id
    where orders.card_batch_id is not null
      and orders.delivered_at is not null
      and orders.order_id not in (select order_id from twice)
      and orders.order_id not in (select order_id from mismatched)
    group by orders.card_batch_id

),

draw_down as (

    select
        batches.batch_id,
        batches.sku_id,
        batches.supplier_id,
        batches.keys,
        batches.unit_cost,
        batches.received_at,
        batches.is_loop,
        coalesce(drawn.keys_drawn, 0) as keys_drawn,
        drawn.keys_costed,
        drawn.booked_cost,
        drawn.last_delivered_at
    from batches
    left join drawn on batches.batch_id = drawn.batch_id
    where batches.received_date < (select as_of_date from as_of)

),

later_drawn as (

    -- Per batch, whether a batch of the same SKU received after it has keys delivered.
    select distinct earlier.batch_id
    from draw_down as earlier
    join draw_down as later
        on earlier.sku_id = later.sku_id
        and later.received_at > earlier.received_at
        and later.keys_drawn > 0

),

batch_rows as (

    select
        'batch_overdrawn' as kind, batch_id, supplier_id, sku_id,
        keys_drawn - keys as keys,
        -- a batch without a unit cost (dujiaoka, acg-faka): the cost its orders booked per key
        (keys_drawn - keys) * coalesce(unit_cost, booked_cost / keys_costed, 0) as amount,
        last_delivered_at as occurred_at
    from draw_down
    where keys_drawn > keys and not is_loop  -- loop keys are delivered again and again

    union all

    select
        'batch_never_drawn', batch_id, supplier_id, sku_id, keys, keys * coalesce(unit_cost, 0),
        received_at
    from draw_down
    where keys_drawn = 0 and not is_loop and batch_id in (select batch_id from later_drawn)

    union all

    select
        'batch_cost_mismatch', batch_id, supplier_id, sku_id, keys_costed,
        abs(booked_cost - keys_costed * unit_cost), last_delivered_at
    from draw_down
    where keys_costed > 0 and booked_cost <> keys_costed * unit_cost

),

found as (

    select
        kind || ':' || order_id as discrepancy_id,
        kind, order_id, related_order_id, batch_id, supplier_id, merchant_id,
        cast(amount as decimal(18, 2)) as amount, sku_id, cast(keys as bigint) as keys,
        occurred_at
    from (
        select * from twice
        union all select * from reused
        union all select * from mismatched
    ) as order_kinds

    union all

    select
        kind || ':' || batch_id,
        kind,
        cast(null as {{ dbt.type_string() }}),
        cast(null as {{ dbt.type_string() }}),
        batch_id,
        supplier_id,
        cast(null as {{ dbt.type_string() }}),
        cast(amount as decimal(18, 2)),
        sku_id,
        cast(keys as bigint),
        occurred_at
    from batch_rows

),

{{ recon_with_state('card_keys') }},

final as (

    select
        current_found.discrepancy_id, current_found.kind, current_found.order_id,
        current_found.related_order_id, current_found.batch_id, current_found.sku_id,
        current_found.supplier_id, current_found.merchant_id, current_found.keys,
        current_found.amount, current_found.occurred_at, current_found.first_seen,
        current_found.status, as_of.as_of_date
    from current_found cross join as_of

    union all

    select
        resolved.discrepancy_id, resolved.kind, resolved.order_id, resolved.related_order_id,
        resolved.batch_id, null, resolved.supplier_id, resolved.merchant_id, null,
        resolved.amount, null, resolved.first_seen, resolved.status, as_of.as_of_date
    from resolved cross join as_of

)

select * from final
