-- Per agent and business day: what the agent sold, its commission, and the profit the merchant
-- kept after discounts, fees, commission and cost (orders sold without an agent are left out).
with

profit as (

    select * from {{ ref('fct_order_profit') }}
    where agent_id is not null

),

final as (

    select
        agent_id,
        merchant_id,
        order_date,
        count(*) as orders,
        cast(sum(quantity) as integer) as units,
        cast(sum(gmv) as decimal(18, 2)) as gmv,
        cast(sum(discount_amount) as decimal(18, 2)) as discount_amount,
        cast(sum(revenue) as decimal(18, 2)) as revenue,
        cast(sum(payment_fee) as decimal(18, 2)) as payment_fee,
        cast(sum(agent_commission) as decimal(18, 2)) as agent_commission,
        cast(sum(cost_amount) as decimal(18, 2)) as cost_amount,
        cast(sum(net_profit) as decimal(18, 2)) as net_profit,
        cast(sum(case when is_refunded then 1 else 0 end) as integer) as refunded_orders

    from profit
    group by agent_id, merchant_id, order_date

)

select * from final
