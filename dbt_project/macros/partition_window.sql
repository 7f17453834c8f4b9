{#-
  A partitioned run rebuilds a UTC date window [min_date, max_date). Intermediate models and marts (materialized
  window_replace) delete that window and insert it again in one transaction, so re-running a partition replaces it
  and never double counts. Without a window every date is in it: a plain `dbt build` rebuilds everything. Cost
  Explorer models start at `aws_min_date` instead, because ingest re-pulls (and Cost Explorer restates) the days
  before.

  The window comes from vars (`dbt build --vars '{min_date: ..., max_date: ..., aws_min_date: ...}'` by hand) or,
  for runs launched by Dagster, from the environment (COST_PIPELINES_DBT_MIN_DATE, _MAX_DATE, _AWS_MIN_DATE), read
  only while executing. Changing vars makes dbt parse the whole project again; environment variables read at
  execution time do not, so a daily run reuses the previous run's parse.
-#}
{% macro window_var(name) -%}
    {%- set value = var(name, none) -%}
    {%- if value is none and execute and var('window_from_env', true) -%}
        {%- set value = env_var('COST_PIPELINES_DBT_' ~ (name | upper), '') or none -%}
    {%- endif -%}
    {{- return(value) -}}
{%- endmacro %}

{% macro in_partition_window(column, start_var='min_date') -%}
    {%- set start, end = window_var(start_var), window_var('max_date') -%}
    {%- if start is not none and end is not none -%}
        ({{ column }} >= date '{{ start }}' and {{ column }} < date '{{ end }}')
    {%- else -%}
        true
    {%- endif -%}
{%- endmacro %}
