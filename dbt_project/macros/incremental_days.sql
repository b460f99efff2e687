{#- Daily marts rebuilt only for the business days that changed (issue 21): an incremental run
    recomputes every day that holds an order loaded after the newest load the mart has seen
    (its _loaded_at), so a late-arriving row for an older day rebuilds that day; and, as in
    fct_orders, every day holding an order priced from price changes when price changes were
    loaded after it. Kept apart from portable.sql (dialect differences). -#}

{#- The newest raw load this mart has taken in (before any order when it is empty). -#}
{% macro loaded_watermark() -%}
    coalesce((select max(_loaded_at) from {{ this }}), {{ before_any_order() }})
{%- endmacro %}

{#- The business days of ``orders`` (fct_orders) to rebuild; ``prices`` is int_price_history,
    passed in by the model so dbt sees the dependency. -#}
{% macro days_to_rebuild(orders, prices) -%}
    select distinct order_date from {{ orders }}
    where _loaded_at > {{ loaded_watermark() }}
        or (
            (unit_cost is null or list_price is null)
            and (select max(_loaded_at) from {{ prices }}) > {{ loaded_watermark() }}
        )
{%- endmacro %}

{#- Incremental config of a daily mart: on DuckDB delete+insert by its day (``day_column``,
    order_date unless named; ``days`` is the Jinja call listing the days to rebuild), with a pre-hook
    that first deletes the days to rebuild (a day left with no rows must not keep its old ones);
    on Spark insert_overwrite of the order_date partitions (plain Parquet tables cannot delete
    rows: there a day left with no rows keeps its old partition; docs/scale.md). -#}
{% macro daily_incremental_config(
    days="days_to_rebuild(ref('fct_orders'), ref('int_price_history'))", day_column='order_date'
) -%}
    {% if target.type == 'spark' %}
        {{ config(
            materialized='incremental',
            incremental_strategy='insert_overwrite',
            partition_by=[day_column],
            file_format='parquet',
            on_schema_change='append_new_columns'
        ) }}
    {% else %}
        {{ config(
            materialized='incremental',
            unique_key=day_column,
            incremental_strategy='delete+insert',
            on_schema_change='append_new_columns',
            pre_hook="{% if is_incremental() %}delete from {{ this }} where "
                ~ "coalesce(" ~ day_column ~ ", {{ no_day() }}) in ({{ " ~ days ~ " }}){% endif %}"
        ) }}
    {% endif %}
{%- endmacro %}

{#- The day a row without one (a payment without created_at) is rebuilt under: NULL matches
    no ``in (...)`` list, so the day lists and the filters use coalesce(day, no_day()). -#}
{% macro no_day() -%}
    cast('1900-01-01' as date)
{%- endmacro %}

{#- fct_order_profit's days: the orders' days (days_to_rebuild), plus the days of orders with
    a payment loaded later (their fee) and of orders sold by an agent loaded later (the
    commission rule). The mart's _loaded_at is the newest load among a row's order, payments
    and agent, so inputs already taken in are not taken again: on DuckDB dbt holds the
    warehouse's one writer for the whole run, so no load can fall between its models. -#}
{% macro order_profit_days_to_rebuild() -%}
    {{ days_to_rebuild(ref('fct_orders'), ref('int_price_history')) }}
    union
    select orders.order_date
    from {{ ref('fct_orders') }} as orders
    inner join {{ ref('fct_payments') }} as payments on payments.order_id = orders.order_id
    where payments._loaded_at > {{ loaded_watermark() }}
    union
    select orders.order_date
    from {{ ref('fct_orders') }} as orders
    inner join {{ ref('stg_cardpulse__agents') }} as agents on agents.agent_id = orders.agent_id
    where agents._loaded_at > {{ loaded_watermark() }}
{%- endmacro %}

{#- fct_payments' days (payment_date): the days of payments loaded after the newest load the
    mart holds (a row's: the newer of its payment and its order), and of payments whose order
    row changed since (merchant, agent, SKU,
    channel, has_order; a new item row of a multi-item order re-splits its order's payment). -#}
{% macro payment_days_to_rebuild() -%}
    select coalesce(cast(created_at as date), {{ no_day() }})
    from {{ ref('stg_cardpulse__payments') }}
    where _loaded_at > {{ loaded_watermark() }}
    union
    select coalesce(cast(payments.created_at as date), {{ no_day() }})
    from {{ ref('stg_cardpulse__payments') }} as payments
    inner join (
        select order_id from {{ ref('fct_orders') }}
        where _loaded_at > {{ loaded_watermark() }}
        union
        select regexp_replace(order_id, '/[^/]*$', '') from {{ ref('fct_orders') }}
        where _loaded_at > {{ loaded_watermark() }} and order_id like '%/%'
    ) as changed_orders on payments.order_id = changed_orders.order_id
{%- endmacro %}
