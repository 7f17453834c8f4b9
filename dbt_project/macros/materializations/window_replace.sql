{#-
  Replaces the partition window of a table: deletes the rows of [start var, max_date) and inserts the model's rows
  for it, straight from the model's query, in one transaction. dbt's incremental materialization would first
  write the rows to a temporary table and then copy them, writing every row twice. Without the window vars (or
  with --full-refresh, or when the table does not exist yet) the whole table is rebuilt from the query.

  config: window_column (default usage_date), window_start_var (default min_date; aws_min_date for models that
  rebuild the days Cost Explorer restates). Columns are inserted by name, so nothing lands in the wrong column. A
  column the model gained since the table was built (an upgrade) is added to the table first: NULL on the days
  outside the window, until they are summed again (`cost-pipelines reprice` finds them: their price fingerprint
  changed). A column the table has and the model no longer makes fails the insert; rebuild with --full-refresh.
-#}
{% materialization window_replace, adapter='duckdb' %}
  {%- set target_relation = this.incorporate(type='table') -%}
  {%- set existing_relation = load_cached_relation(this) -%}
  {%- set window_column = config.get('window_column', 'usage_date') -%}
  {%- set start_var = config.get('window_start_var', 'min_date') -%}
  {%- set has_window = window_var(start_var) is not none and window_var('max_date') is not none -%}

  {{ run_hooks(pre_hooks, inside_transaction=False) }}
  {{ run_hooks(pre_hooks, inside_transaction=True) }}

  {% if existing_relation is none or existing_relation.is_view or should_full_refresh() or not has_window %}
    {% if existing_relation is not none %}
      {% do adapter.drop_relation(existing_relation) %}
    {% endif %}
    {% call statement('main') -%}
      {{ create_table_as(False, target_relation, sql) }}
    {%- endcall %}
  {% else %}
    {%- set existing_names = adapter.get_columns_in_relation(existing_relation) | map(attribute='name')
                              | map('lower') | list -%}
    {%- for column in adapter.get_column_schema_from_query(sql) -%}
      {%- if column.name | lower not in existing_names %}
        {% call statement('add_' ~ column.name) -%}
          alter table {{ target_relation }} add column {{ adapter.quote(column.name) }} {{ column.data_type }}
        {%- endcall %}
      {%- endif -%}
    {%- endfor %}
    {% call statement('delete_window') -%}
      delete from {{ target_relation }} where {{ in_partition_window(window_column, start_var) }}
    {%- endcall %}
    {% call statement('main') -%}
      insert into {{ target_relation }} by name
      select * from (
        {{ sql }}
      ) as window_rows
    {%- endcall %}
  {% endif %}

  {{ run_hooks(post_hooks, inside_transaction=True) }}
  {% do adapter.commit() %}
  {{ run_hooks(post_hooks, inside_transaction=False) }}
  {% do persist_docs(target_relation, model) %}
  {{ return({'relations': [target_relation]}) }}
{% endmaterialization %}
