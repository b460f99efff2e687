{#- Optional raw columns (issue #18's whole-order fields) exist in the warehouse only once a
    file has carried a value in them: read a missing one as a typed NULL. -#}
{% macro stored_columns(relation) -%}
    {%- set names = [] -%}
    {%- if execute -%}
        {%- for column in adapter.get_columns_in_relation(relation) -%}
            {%- do names.append(column.name | lower) -%}
        {%- endfor -%}
    {%- endif -%}
    {{ return(names) }}
{%- endmacro %}

{% macro optional_column(stored, name, data_type) -%}
    {%- if not execute or name in stored -%}
        cast({{ name }} as {{ data_type }})
    {%- else -%}
        cast(null as {{ data_type }})
    {%- endif -%}
{%- endmacro %}
