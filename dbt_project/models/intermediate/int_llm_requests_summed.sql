{#-
  Priced requests summed per day and every dimension a mart groups by: the one pass over the day's requests the
  daily run makes. Sums of exact DECIMAL costs stay exact, so every mart built from here equals the sum over its
  requests.
-#}
select
    usage_date,
    provider,
    model,
    price_provider_id,
    price_model_id,
    price_source,
    pricing_status,
    is_priced,
    user_id,
    team,
    project,
    environment,
    task_type,
    status,
    count(*) as request_count,
    cast(sum(input_tokens) as bigint) as input_tokens,
    cast(sum(uncached_input_tokens) as bigint) as uncached_input_tokens,
    cast(sum(cache_read_tokens) as bigint) as cache_read_tokens,
    cast(sum(cache_write_tokens) as bigint) as cache_write_tokens,
    cast(sum(output_tokens) as bigint) as output_tokens,
    sum(input_cost_usd) as input_cost_usd,
    sum(cache_read_cost_usd) as cache_read_cost_usd,
    sum(cache_write_cost_usd) as cache_write_cost_usd,
    sum(output_cost_usd) as output_cost_usd,
    sum(request_cost_usd) as request_cost_usd,
    sum(total_cost_usd) as total_cost_usd,
    sum(reported_cost_usd) as reported_cost_usd,
    cast(sum(latency_ms) as bigint) as latency_ms_sum,
    count(latency_ms) as latency_count
from {{ ref('int_llm_requests_priced') }}
where {{ in_partition_window('usage_date') }}
group by all
