-- Per coupon, merchant and business day: orders with the coupon, discount given and the profit
-- left after it, beside the merchant's demand orders that day (the comparison the coupon
-- incrementality estimate starts from: forecasting/coupons.py).
with

profit as (

    select * from {{ ref('fct_order_profit') }}

),

merchant_days as (

    select merchant_id, order_date, count(*) as merchant_orders
    from profit
    group by merchant_id, order_date

),

coupon_days as (

    select
        coupon_code,
        merchant_id,
        order_date,
        count(*) as orders,
        cast(sum(quantity) as integer) as units,
        cast(sum(gmv) as decimal(18, 2)) as gmv,
        cast(sum(discount_amount) as decimal(18, 2)) as discount_amount,
        cast(sum(revenue) as decimal(18, 2)) as revenue,
        cast(sum(net_profit) as decimal(18, 2)) as net_profit

    from profit
    where coupon_code is not null
    group by coupon_code, merchant_id, order_date

),

final as (

    select
        coupon_days.*,
        merchant_days.merchant_orders

    from coupon_days
    inner join merchant_days
        on coupon_days.merchant_id = merchant_days.merchant_id
        and coupon_days.order_date = merchant_days.order_date

)

select * from final
