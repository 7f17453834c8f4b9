{#-
  Every listed column is never NULL: one scan of the model for all of them (a test per column would cost a
  query each). Fails with one row per offending column and how many rows break it.
-#}
{% test columns_not_null(model, columns) %}
with counts as (
    select
        {% for column in columns -%}
        count(*) filter (where {{ column }} is null) as "{{ column }}"{{ "," if not loop.last }}
        {% endfor %}
    from {{ model }}
)
select column_name, failing_rows
from (unpivot counts on columns(*) into name column_name value failing_rows)
where failing_rows > 0
{% endtest %}
