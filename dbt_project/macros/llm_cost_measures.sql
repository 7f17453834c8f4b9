{#- The measures every LLM cost mart sums over its grain, from int_llm_requests_summed. -#}
{% macro llm_cost_measures() -%}
    cast(sum(request_count) as bigint) as request_count,
    cast(coalesce(sum(request_count) filter (where is_priced), 0) as bigint) as priced_request_count,
    cast(coalesce(sum(request_count) filter (where not is_priced), 0) as bigint) as unpriced_request_count,
    cast(coalesce(sum(request_count) filter (where status = 'error'), 0) as bigint) as failed_request_count,
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

{#- Mean latency over the requests that reported one, from the summed latencies. -#}
{% macro avg_latency_ms() -%}
    round(sum(latency_ms_sum) / nullif(sum(latency_count), 0)) as avg_latency_ms
{%- endmacro %}
