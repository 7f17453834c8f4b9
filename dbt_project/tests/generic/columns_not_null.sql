{#-
  Every listed column is never NULL: one scan of the model for all of them (a test per column would cost a
  query each). Fails with one row per offending column and how many rows break it.
-#}
{% test columns_not_null(model, columns) %}
{{ count_failing_columns(model, columns, '{column} is null') }}
{% endtest %}
