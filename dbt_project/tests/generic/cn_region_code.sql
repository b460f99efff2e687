{#- Region codes are ISO 3166-2:CN (CN-GD, CN-BJ, ...) or UNKNOWN; NULL passes (use not_null). -#}
{% test cn_region_code(model, column_name) %}

select {{ column_name }}
from {{ model }}
where {{ column_name }} is not null
  and {{ column_name }} <> 'UNKNOWN'
  and not {{ full_match(column_name, 'CN-[A-Z]{2}') }}

{% endtest %}
