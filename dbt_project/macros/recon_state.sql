{#- The state reconciliation keeps between builds (first seen, open or resolved) must outlive
    dbt's CREATE OR REPLACE of the marts, so it lives in ops.recon_state; run on start so the
    marts can read it on a fresh warehouse. pipelines/assets/reconciliation.py writes it. -#}
{% macro create_recon_state() %}
    {%- if target.type == 'spark' %}
    select 1 {#- the recon marts are disabled on Spark (DuckDB only for now) #}
    {%- else %}
    create schema if not exists ops;
    create table if not exists ops.recon_state (
        discrepancy_id varchar not null,
        check_name varchar not null,
        kind varchar not null,
        order_id varchar,
        related_order_id varchar,
        batch_id varchar,
        supplier_id varchar,
        merchant_id varchar,
        amount decimal(18, 2),
        first_seen date not null,
        status varchar not null,
        as_of date not null
    );
    {%- endif %}
{% endmacro %}

{#- The mart's discrepancies found today joined to the state before today: first_seen carries
    over while a discrepancy stays open; a resolved one that comes back starts again (re-arms).
    Open ones no longer found are listed once more, as resolved. -#}
{% macro recon_with_state(check_name) %}
state as (

    select * from ops.recon_state
    where check_name = '{{ check_name }}'
      and as_of < (select as_of_date from as_of)
    qualify row_number() over (partition by discrepancy_id order by as_of desc) = 1

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
