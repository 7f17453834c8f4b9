{#-
  Data tests of a partitioned run look at the run's date window only, so a daily run's tests cost O(day) however
  much history the tables hold. A relation documenting a usage_date column is filtered to [aws_min_date or min_date,
  max_date); without the window vars (a plain `dbt build`) every row is tested. A test's own `where` config still
  applies.
-#}
{% macro get_where_subquery(relation) -%}
    {%- set filters = [] -%}
    {%- set where = config.get('where') -%}
    {%- if where -%}
        {%- do filters.append('(' ~ where ~ ')') -%}
    {%- endif -%}
    {%- set start_var = 'aws_min_date' if window_var('aws_min_date') is not none else 'min_date' -%}
    {%- if execute and window_var(start_var) is not none and window_var('max_date') is not none
            and has_documented_column(relation, 'usage_date') -%}
        {%- do filters.append(in_partition_window('usage_date', start_var)) -%}
    {%- endif -%}
    {%- if filters -%}
        (select * from {{ relation }} where {{ filters | join(' and ') }}) dbt_subquery
    {%- else -%}
        {{ relation }}
    {%- endif -%}
{%- endmacro %}

{#- Whether the model, seed or source behind `relation` documents `column` (read from the manifest: no query). -#}
{% macro has_documented_column(relation, column) -%}
    {%- set candidates = (graph.nodes.values() | selectattr('name', 'equalto', relation.identifier) | list)
        + (graph.sources.values() | selectattr('name', 'equalto', relation.identifier) | list) -%}
    {%- for node in candidates if node.resource_type in ('model', 'seed', 'source', 'snapshot')
            and (node.schema | lower) == (relation.schema | lower) and column in node.columns -%}
        {%- if loop.first %}{{ return(true) }}{% endif -%}
    {%- endfor -%}
    {{ return(false) }}
{%- endmacro %}
