-- Supplier prepaid balances against top-up orders: between two snapshots a balance should
-- fall by the cost of the direct top-ups the supplier delivered in between (refunded ones
-- included: a completed top-up is not undone). A larger fall is an unexplained gap; a rise
-- is a deposit (deposits are not in the data, so a gap on a deposit day is hidden by it).
-- One row per supplier-day with a gap, with the state from earlier builds.
with

balances as (

    select
        supplier_id,
        balance_date,
        balance,
        lag(balance) over (partition by supplier_id order by balance_date) as previous_balance,
        lag(balance_date) over (partition by supplier_id order by balance_date) as previous_date
    from {{ ref('fct_supplier_balance_daily') }}

),

{{ recon_as_of() }},

topup_cost as (

    select
        coalesce(orders.supplier_id, skus.supplier_id) as supplier_id,
        cast(orders.delivered_at as date) as delivered_date,
        sum(orders.quantity * orders.effective_unit_cost) as cost,
        count(*) as topups
    from {{ ref('fct_orders') }} as orders
    join {{ ref('dim_skus') }} as skus on orders.sku_id = skus.sku_id
    where skus.delivery_type = 'direct_topup' and orders.delivered_at is not null
    group by coalesce(orders.supplier_id, skus.supplier_id), cast(orders.delivered_at as date)

),

cost_between as (

    select
        balances.supplier_id,
        balances.balance_date,
        balances.previous_date,
        balances.balance,
        balances.previous_balance,
        coalesce(sum(topup_cost.cost), 0) as cost,
        coalesce(sum(topup_cost.topups), 0) as topups
    from balances
    left join topup_cost
        on topup_cost.supplier_id = balances.supplier_id
        and topup_cost.delivered_date > balances.previous_date
        and topup_cost.delivered_date <= balances.balance_date
    where balances.previous_date is not null
    group by
        balances.supplier_id, balances.balance_date, balances.previous_date, balances.balance,
        balances.previous_balance

),

found as (

    select
        'supplier_balance_gap:' || supplier_id || ':'
            || cast(balance_date as {{ dbt.type_string() }})
            as discrepancy_id,
        'supplier_balance_gap' as kind,
        cast(null as {{ dbt.type_string() }}) as order_id,
        cast(null as {{ dbt.type_string() }}) as related_order_id,
        cast(null as {{ dbt.type_string() }}) as batch_id,
        supplier_id,
        cast(null as {{ dbt.type_string() }}) as merchant_id,
        cast(previous_balance - balance - cost as decimal(18, 2)) as amount,
        balance_date,
        previous_date,
        cast(previous_balance as decimal(18, 2)) as previous_balance,
        cast(balance as decimal(18, 2)) as balance,
        cast(cost as decimal(18, 2)) as topup_cost,
        cast(topups as bigint) as topups
    from cost_between
    where cast(previous_balance - balance - cost as decimal(18, 2)) > 0

),

{{ recon_with_state('supplier_balances') }},

final as (

    select
        current_found.discrepancy_id, current_found.kind, current_found.supplier_id,
        current_found.balance_date, current_found.previous_date, current_found.previous_balance,
        current_found.balance, current_found.topup_cost, current_found.topups,
        current_found.amount, current_found.first_seen, current_found.status, as_of.as_of_date
    from current_found cross join as_of

    union all

    select
        resolved.discrepancy_id, resolved.kind, resolved.supplier_id, null, null, null, null,
        null, null, resolved.amount, resolved.first_seen, resolved.status, as_of.as_of_date
    from resolved cross join as_of

)

select * from final
