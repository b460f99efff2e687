-- One row per card key an order delivered (orders.card_key_ids, issue #19): the key's id as the
-- shop records it (its id in the shop's system or a keyed hash of the key, never the secret).
-- A key id starting with `loop:` names a key sold again and again by design (dujiaoka's
-- is_loop): recon_card_keys never reports it as delivered twice.
with

orders as (

    select order_id, sku_id, merchant_id, supplier_id, card_batch_id, delivered_at, card_key_ids
    from {{ ref('stg_cardpulse__orders') }}
    where card_key_ids is not null

),

split as (

    {{ split_list_rows(
        'orders', 'card_key_ids',
        ['order_id', 'sku_id', 'merchant_id', 'supplier_id', 'card_batch_id', 'delivered_at']
    ) }}

),

final as (

    select
        order_id,
        trim(list_element) as card_key_id,
        cast(list_position as integer) as key_position,
        sku_id,
        merchant_id,
        supplier_id,
        card_batch_id,
        delivered_at,
        trim(list_element) like 'loop:%' as is_loop_key
    from split

)

select * from final
