{#-
  One scan of `model` counting, for every listed column, the rows where `predicate` (with `{column}` standing for
  the column) holds; returns one row per column that has any. Shared by columns_not_null and columns_non_negative.
-#}
{% macro count_failing_columns(model, columns, predicate) %}
with counts as (
    select
        {% for column in columns -%}
        count(*) filter (where {{ predicate | replace('{column}', column) }}) as "{{ column }}"{{ "," if not loop.last }}
        {% endfor %}
    from {{ model }}
)
select column_name, failing_rows
from (unpivot counts on columns(*) into name column_name value failing_rows)
where failing_rows > 0
{% endmacro %}
