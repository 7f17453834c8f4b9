{#-
  Partitioned runs pass vars min_date / max_date (a UTC date window, end exclusive). Intermediate models and
  marts (materialized window_replace) delete that window and insert it again in one transaction, so re-running a
  partition replaces it and never double counts.
  Without the vars every date is in the window: a plain `dbt build` rebuilds everything. Cost Explorer models
  start at `aws_min_date` instead, because ingest re-pulls (and Cost Explorer restates) the days before.
-#}
{% macro in_partition_window(column, start_var='min_date') -%}
    {%- if var(start_var, none) is not none and var('max_date') is not none -%}
        ({{ column }} >= date '{{ var(start_var) }}' and {{ column }} < date '{{ var("max_date") }}')
    {%- else -%}
        true
    {%- endif -%}
{%- endmacro %}
