{#- The contract's definitions, in one place so every model, YAML test and bench counts the
    same way (Python reads the marts' is_demand; it never lists these statuses again). -#}

{#- Demand is the quantity of orders that were paid: these statuses. -#}
{% macro demand_statuses() -%}
    {{ return(['paid', 'delivered', 'failed', 'refunded']) }}
{%- endmacro %}

{% macro order_statuses() -%}
    {{ return(['pending_payment', 'paid', 'delivered', 'failed', 'refunded', 'cancelled']) }}
{%- endmacro %}

{% macro is_demand(status_column) -%}
    coalesce({{ status_column }} in ('{{ demand_statuses() | join("', '") }}'), false)
{%- endmacro %}
