{#- The measures every LLM cost mart sums over its grain, from int_llm_requests_priced. -#}
{% macro llm_cost_measures() -%}
    count(*) as request_count,
    count(*) filter (where is_priced) as priced_request_count,
    count(*) filter (where not is_priced) as unpriced_request_count,
    count(*) filter (where status = 'error') as failed_request_count,
    cast(sum(input_tokens) as bigint) as input_tokens,
    cast(sum(cache_read_tokens) as bigint) as cache_read_tokens,
    cast(sum(cache_write_tokens) as bigint) as cache_write_tokens,
    cast(sum(output_tokens) as bigint) as output_tokens,
    coalesce(sum(input_cost_usd), 0) as input_cost_usd,
    coalesce(sum(cache_read_cost_usd), 0) as cache_read_cost_usd,
    coalesce(sum(cache_write_cost_usd), 0) as cache_write_cost_usd,
    coalesce(sum(output_cost_usd), 0) as output_cost_usd,
    coalesce(sum(request_cost_usd), 0) as request_cost_usd,
    coalesce(sum(total_cost_usd), 0) as total_cost_usd
{%- endmacro %}
