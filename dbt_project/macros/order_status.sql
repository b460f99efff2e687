{#- The contract's definitions, in one place so every model counts the same way. -#}

{#- Demand is the quantity of orders that were paid: these statuses. -#}
{% macro demand_statuses() -%}
    ('paid', 'delivered', 'failed', 'refunded')
{%- endmacro %}

{% macro order_statuses() -%}
    {{ return(['pending_payment', 'paid', 'delivered', 'failed', 'refunded', 'cancelled']) }}
{%- endmacro %}

{% macro is_demand(status_column) -%}
    coalesce({{ status_column }} in {{ demand_statuses() }}, false)
{%- endmacro %}
