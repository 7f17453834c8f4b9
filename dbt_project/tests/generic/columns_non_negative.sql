{#- Every listed column is >= 0 where set (money and counts): one scan for all of them, one row per offender. -#}
{% test columns_non_negative(model, columns) %}
with counts as (
    select
        {% for column in columns -%}
        count(*) filter (where {{ column }} < 0) as "{{ column }}"{{ "," if not loop.last }}
        {% endfor %}
    from {{ model }}
)
select column_name, failing_rows
from (unpivot counts on columns(*) into name column_name value failing_rows)
where failing_rows > 0
{% endtest %}
