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

{#- Incremental config of a daily mart: on DuckDB delete+insert by order_date, with a pre-hook
    that first deletes the days to rebuild (a day left with no rows must not keep its old ones);
    on Spark insert_overwrite of the order_date partitions (plain Parquet tables cannot delete
    rows: there a day left with no rows keeps its old partition; docs/scale.md). -#}
{% macro daily_incremental_config() -%}
    {% if target.type == 'spark' %}
        {{ config(
            materialized='incremental',
            incremental_strategy='insert_overwrite',
            partition_by=['order_date'],
            file_format='parquet',
            on_schema_change='append_new_columns'
        ) }}
    {% else %}
        {{ config(
            materialized='incremental',
            unique_key='order_date',
            incremental_strategy='delete+insert',
            on_schema_change='append_new_columns',
            pre_hook="{% if is_incremental() %}delete from {{ this }} where order_date in ("
                ~ "{{ days_to_rebuild(ref('fct_orders'), ref('int_price_history')) }}){% endif %}"
        ) }}
    {% endif %}
{%- endmacro %}
