{#- The state reconciliation keeps between builds (first seen, open or resolved) must outlive
    dbt's CREATE OR REPLACE of the marts, so it lives in ops.recon_state; created on run start
    (dbt_project.yml, one statement per hook: Spark runs one at a time) so the marts can read
    it on a fresh warehouse. pipelines/assets/reconciliation.py writes it. -#}
{% macro create_recon_state_schema() %}
    create schema if not exists ops
{% endmacro %}

{% macro create_recon_state() %}
    {#- Spark's Parquet tables take no NOT NULL; the recon_state asset writes DuckDB's only. -#}
    {%- set not_null = '' if target.type == 'spark' else 'not null' %}
    create table if not exists ops.recon_state (
        discrepancy_id {{ dbt.type_string() }} {{ not_null }},
        check_name {{ dbt.type_string() }} {{ not_null }},
        kind {{ dbt.type_string() }} {{ not_null }},
        order_id {{ dbt.type_string() }},
        related_order_id {{ dbt.type_string() }},
        batch_id {{ dbt.type_string() }},
        supplier_id {{ dbt.type_string() }},
        merchant_id {{ dbt.type_string() }},
        amount decimal(18, 2),
        first_seen date {{ not_null }},
        status {{ dbt.type_string() }} {{ not_null }},
        as_of date {{ not_null }}
    ){% if target.type == 'spark' %} using parquet{% endif %}
{% endmacro %}

{#- The build's "today", one for reconciliation and risk: the var as_of (an ISO date, which
    `cardpulse build --as-of` passes), else the day after the last order's business date
    (pipelines.resources.BuildSettings.as_of_date says the same). A CTE named as_of with
    as_of_date and data_end_at (the latest change in the data, at most the end of as_of's eve). -#}
{% macro recon_as_of() %}
as_of as (

    select
        {%- if var('as_of', '') %}
        cast('{{ var("as_of") }}' as date) as as_of_date,
        least(max(updated_at), cast('{{ var("as_of") }}' as timestamp)) as data_end_at
        {%- else %}
        {{ add_days('max(order_date)', 1) }} as as_of_date,
        max(updated_at) as data_end_at
        {%- endif %}
    from {{ ref('fct_orders') }}

)
{% endmacro %}

{#- The mart's discrepancies found today joined to the state before today: first_seen carries
    over while a discrepancy stays open; a resolved one that comes back starts again (re-arms).
    Open ones no longer found are listed once more, as resolved. -#}
{% macro recon_with_state(check_name) %}
state as (

    select * from (
        select
            recon_state.*,
            row_number() over (
                partition by discrepancy_id order by recon_state.as_of desc
            ) as _latest
        from ops.recon_state as recon_state
        where check_name = '{{ check_name }}'
          and recon_state.as_of < (select as_of_date from as_of)
    ) as ranked
    where _latest = 1

),

current_found as (

    select
        found.*,
        case when state.status = 'open' then state.first_seen else as_of.as_of_date end
            as first_seen,
        'open' as status
    from found
    cross join as_of
    left join state on found.discrepancy_id = state.discrepancy_id

),

resolved as (

    select
        state.discrepancy_id,
        state.kind,
        state.order_id,
        state.related_order_id,
        state.batch_id,
        state.supplier_id,
        state.merchant_id,
        state.amount,
        state.first_seen,
        'resolved' as status
    from state
    where state.status = 'open'
      and state.discrepancy_id not in (select discrepancy_id from found)

)
{% endmacro %}
