{#- The few places where DuckDB and Spark SQL differ, dispatched by adapter so every model is
    written once. Everything else uses dbt's cross-database macros (dbt.datediff,
    dbt.type_string, dbt.array_construct, dbt.array_append). -#}

{#- The last non-null value of a window frame. -#}
{% macro last_non_null(expression) -%}
    {{ return(adapter.dispatch('last_non_null', 'cardpulse')(expression)) }}
{%- endmacro %}

{% macro default__last_non_null(expression) -%}
    last_value({{ expression }} ignore nulls)
{%- endmacro %}

{% macro spark__last_non_null(expression) -%}
    last_value({{ expression }}) ignore nulls
{%- endmacro %}

{#- A continuous (interpolated) quantile, e.g. the median at 0.5. -#}
{% macro quantile_cont(expression, quantile) -%}
    {{ return(adapter.dispatch('quantile_cont', 'cardpulse')(expression, quantile)) }}
{%- endmacro %}

{% macro default__quantile_cont(expression, quantile) -%}
    quantile_cont({{ expression }}, {{ quantile }})
{%- endmacro %}

{% macro spark__quantile_cont(expression, quantile) -%}
    percentile({{ expression }}, {{ quantile }})
{%- endmacro %}

{#- A date plus a whole number of days (negative: earlier), still a date. dbt.dateadd goes
    through timestamps on Spark and comes back NULL for a DATE under TIMESTAMP_NTZ. -#}
{% macro add_days(date_expression, days) -%}
    {{ return(adapter.dispatch('add_days', 'cardpulse')(date_expression, days)) }}
{%- endmacro %}

{% macro default__add_days(date_expression, days) -%}
    cast({{ date_expression }} + cast({{ days }} as integer) as date)
{%- endmacro %}

{% macro spark__add_days(date_expression, days) -%}
    date_add({{ date_expression }}, cast({{ days }} as int))
{%- endmacro %}

{#- Whether a list holds a value. -#}
{% macro array_has(array, value) -%}
    array_contains({{ array }}, {{ value }})
{%- endmacro %}

{#- A timestamp before any order (the contract quarantines times before 2000). -#}
{% macro before_any_order() -%}
    cast('1970-01-01 00:00:00' as timestamp)
{%- endmacro %}

{#- Regular-expression full match (a generic test's region codes). -#}
{% macro full_match(expression, pattern) -%}
    {{ return(adapter.dispatch('full_match', 'cardpulse')(expression, pattern)) }}
{%- endmacro %}

{% macro default__full_match(expression, pattern) -%}
    regexp_full_match({{ expression }}, '{{ pattern }}')
{%- endmacro %}

{% macro spark__full_match(expression, pattern) -%}
    ({{ expression }} rlike '^{{ pattern }}$')
{%- endmacro %}

{#- The price change in effect when each order was placed (the latest effective_at at or before
    created_at for the same SKU and, with region, the same region): DuckDB's ASOF join; on Spark
    a range join keeping the latest match per order. Returns the order's columns plus
    <prefix>_effective_at, <prefix>_cost_effective_at, <prefix>_list_price, <prefix>_unit_cost. -#}
{% macro price_in_effect(orders, prices, prefix, by_region) -%}
    {{ return(adapter.dispatch('price_in_effect', 'cardpulse')(orders, prices, prefix, by_region)) }}
{%- endmacro %}

{% macro default__price_in_effect(orders, prices, prefix, by_region) -%}
    select
        o.*,
        p.effective_at as {{ prefix }}_effective_at,
        p.cost_effective_at as {{ prefix }}_cost_effective_at,
        p.list_price as {{ prefix }}_list_price,
        p.unit_cost as {{ prefix }}_unit_cost
    from {{ orders }} as o
    asof left join {{ prices }} as p
        on o.sku_id = p.sku_id
        {% if by_region %}and o.region_code = p.region_code{% endif %}
        and o.created_at >= p.effective_at
{%- endmacro %}

{% macro spark__price_in_effect(orders, prices, prefix, by_region) -%}
    select * from (
        select
            o.*,
            p.effective_at as {{ prefix }}_effective_at,
            p.cost_effective_at as {{ prefix }}_cost_effective_at,
            p.list_price as {{ prefix }}_list_price,
            p.unit_cost as {{ prefix }}_unit_cost,
            row_number() over (
                partition by o.order_id order by p.effective_at desc
            ) as _{{ prefix }}_rank
        from {{ orders }} as o
        left join {{ prices }} as p
            on o.sku_id = p.sku_id
            {% if by_region %}and o.region_code = p.region_code{% endif %}
            and o.created_at >= p.effective_at
    ) as ranked
    where _{{ prefix }}_rank = 1
{%- endmacro %}

{#- Contracts on Spark: the mart's columns by name. Their types are the DuckDB target's
    promise (contract data types are written in DuckDB's words, e.g. varchar, which Spark's DDL
    does not take without a length); the two-target test compares the values themselves. -#}
{% macro spark__get_assert_columns_equivalent(sql) -%}
    {%- set declared = model['columns'].keys() | map('lower') | list -%}
    {%- set built = get_columns_in_query(sql) | map('lower') | list -%}
    {%- if declared | sort != built | sort -%}
        {%- do exceptions.raise_compiler_error(
            "contract of " ~ model['name'] ~ ": missing " ~ (declared | reject('in', built) | list)
            ~ ", not declared " ~ (built | reject('in', declared) | list)) -%}
    {%- endif -%}
{%- endmacro %}

{#- Seconds from one timestamp to a later one. -#}
{% macro seconds_between(start, end) -%}
    {{ return(adapter.dispatch('seconds_between', 'cardpulse')(start, end)) }}
{%- endmacro %}

{% macro default__seconds_between(start, end) -%}
    date_diff('second', {{ start }}, {{ end }})
{%- endmacro %}

{% macro spark__seconds_between(start, end) -%}
    timestampdiff(SECOND, {{ start }}, {{ end }})
{%- endmacro %}

{#- The values of a group joined with commas in the order of another column (an aggregate). -#}
{% macro ordered_string_agg(value, order_by) -%}
    {{ return(adapter.dispatch('ordered_string_agg', 'cardpulse')(value, order_by)) }}
{%- endmacro %}

{% macro default__ordered_string_agg(value, order_by) -%}
    string_agg({{ value }}, ',' order by {{ order_by }}, {{ value }})
{%- endmacro %}

{% macro spark__ordered_string_agg(value, order_by) -%}
    array_join(transform(
        array_sort(collect_list(named_struct('o', {{ order_by }}, 'v', {{ value }}))),
        x -> x.v), ',')
{%- endmacro %}


{#- One row per element of a comma-separated list column: `select ... from {{ relation }}`
    with the element as `list_element` (untrimmed) and its 1-based place as `list_position`. -#}
{% macro split_list_rows(relation, list_column, columns) -%}
    {{ return(adapter.dispatch('split_list_rows', 'cardpulse')(relation, list_column, columns)) }}
{%- endmacro %}

{% macro default__split_list_rows(relation, list_column, columns) -%}
    select {{ columns | join(', ') }}, elements.list_element, elements.list_position
    from {{ relation }},
        unnest(string_split({{ list_column }}, ','))
            with ordinality as elements(list_element, list_position)
{%- endmacro %}

{% macro spark__split_list_rows(relation, list_column, columns) -%}
    select
        {{ columns | join(', ') }}, elements.list_element,
        elements.list_position + 1 as list_position
    from {{ relation }}
    lateral view posexplode(split({{ list_column }}, ',')) elements as list_position, list_element
{%- endmacro %}
