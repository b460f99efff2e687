-- Payment attempts against the order rows they pay. A dujiao-next order with several items
-- is ingested as one order row per item, `<order_no>/<item id>`, while its payments name the
-- order_no (docs/ingest.md). Such a payment is split over the order's item rows by each row's
-- share of the order's amount (paid_amount, else quantity x unit_price), rounded to the fen;
-- the row with the highest order_id takes the remainder, so the parts add up to the payment
-- exactly (amount and fee alike). Only payments from dujiao-next files that match no order
-- row are split; every other payment is one row as it is.
with

payments as (

    select * from {{ ref('stg_cardpulse__payments') }}

),

dujiao_next_files as (

    select distinct _file_id
    from {{ source('cardpulse', 'file_ledger') }}
    where source = 'dujiao-next' and entity = 'payments'

),

order_rows as (

    select
        order_id,
        cast(coalesce(paid_amount, quantity * unit_price) as decimal(18, 2)) as order_amount
    from {{ ref('stg_cardpulse__orders') }}

),

item_rows as (

    select
        order_id,
        regexp_replace(order_id, '/[^/]*$', '') as order_no,
        order_amount
    from order_rows
    where order_id like '%/%'

),

unmatched as (

    select payments.*
    from payments
    inner join dujiao_next_files on payments._file_id = dujiao_next_files._file_id
    left join order_rows on payments.order_id = order_rows.order_id
    where order_rows.order_id is null

),

parts as (

    select
        unmatched.*,
        item_rows.order_id as item_order_id,
        item_rows.order_amount,
        sum(item_rows.order_amount) over (partition by unmatched.payment_id) as order_total,
        count(*) over (partition by unmatched.payment_id) as item_count,
        row_number() over (
            partition by unmatched.payment_id order by item_rows.order_id desc
        ) as remainder_rank
    from unmatched
    inner join item_rows on item_rows.order_no = unmatched.order_id

),

shared as (

    select
        *,
        cast(case
            when order_total > 0 then round(amount * order_amount / order_total, 2)
            else round(amount / item_count, 2)
        end as decimal(18, 2)) as amount_share,
        cast(case
            when order_total > 0 then round(fee * order_amount / order_total, 2)
            else round(fee / item_count, 2)
        end as decimal(18, 2)) as fee_share
    from parts

),

split as (

    select
        payment_id || ':' || item_order_id as payment_id,
        payment_id as attempt_id,
        item_order_id as order_id,
        payment_channel,
        cast(case
            when remainder_rank = 1
                then amount - (sum(amount_share) over (partition by payment_id) - amount_share)
            else amount_share
        end as decimal(18, 2)) as amount,
        cast(case
            when remainder_rank = 1
                then fee - (sum(fee_share) over (partition by payment_id) - fee_share)
            else fee_share
        end as decimal(18, 2)) as fee,
        status,
        created_at,
        callback_at,
        gateway_trade_no,
        true as is_split,
        _loaded_at
    from shared

),

whole as (

    select
        payments.payment_id,
        payments.payment_id as attempt_id,
        payments.order_id,
        payments.payment_channel,
        payments.amount,
        payments.fee,
        payments.status,
        payments.created_at,
        payments.callback_at,
        payments.gateway_trade_no,
        false as is_split,
        payments._loaded_at
    from payments
    left join (select distinct attempt_id from split) as split_ids
        on payments.payment_id = split_ids.attempt_id
    where split_ids.attempt_id is null

),

final as (

    select * from whole
    union all
    select * from split

)

select * from final
