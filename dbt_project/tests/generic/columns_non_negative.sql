{#- Every listed column is >= 0 where set (money and counts): one scan for all of them, one row per offender. -#}
{% test columns_non_negative(model, columns) %}
{{ count_failing_columns(model, columns, '{column} < 0') }}
{% endtest %}
