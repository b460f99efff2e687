{#- Use custom schemas exactly as named (staging, intermediate, analytics), not prefixed with
    the target schema: the contract promises the marts in schema `analytics`. -#}
{% macro generate_schema_name(custom_schema_name, node) -%}
    {%- if custom_schema_name is none -%}
        {{ target.schema }}
    {%- else -%}
        {{ custom_schema_name | trim }}
    {%- endif -%}
{%- endmacro %}
