{#-
  Priced requests summed per day and every dimension a mart groups by: the one pass over the day's requests the
  daily run makes. Requests are first summed per rate (the rates in force for them), and each cost is then its
  token sum times that rate: exactly the sum of the per-request costs, with integer sums over the requests instead
  of DECIMAL ones. Every mart built from here equals the sum over its requests. Requests that came with a cost
  reported by their source are summed apart from those without one, so computed and reported cost can be compared
  over the same requests (llm_cost_reconciliation).
-#}
{%- set dimensions = ['usage_date', 'provider', 'model', 'user_id', 'team', 'project', 'environment', 'task_type',
                      'status', 'record_kind'] -%}
{%- set price = ['price_provider_id', 'price_model_id', 'publisher', 'price_source', 'pricing_status',
                 'is_priced'] -%}
{%- set token_sums = ['input_tokens', 'uncached_input_tokens', 'cache_read_tokens', 'cache_write_tokens',
                      'cache_write_1h_tokens', 'output_tokens', 'input_audio_tokens', 'output_audio_tokens'] -%}

with per_rate as (
    -- Everything about a request's price (its ids, source, status and rates) follows from its provider, model,
    -- price row and override: grouping by those two integers and taking the rest from any row of the group is exact,
    -- and much lighter than grouping by every rate.
    select
        {% for column in dimensions %}{{ column }},
        {% endfor -%}
        price_row_id,
        override_id,
        reported_cost_usd is not null as has_reported_cost,
        price_source = 'reported' as uses_reported,
        {% for column in price %}any_value({{ column }}) as {{ column }},
        {% endfor -%}
        any_value(input_usd_per_token) as input_usd_per_token,
        any_value(cache_read_usd_per_token) as cache_read_usd_per_token,
        any_value(cache_write_usd_per_token) as cache_write_usd_per_token,
        any_value(cache_write_1h_usd_per_token) as cache_write_1h_usd_per_token,
        any_value(output_usd_per_token) as output_usd_per_token,
        any_value(input_audio_usd_per_token) as input_audio_usd_per_token,
        any_value(output_audio_usd_per_token) as output_audio_usd_per_token,
        any_value(request_usd) as request_usd,
        -- a usage bucket whose provider reports no request count counts none
        coalesce(sum(request_count), 0) as request_count,
        {% for column in token_sums %}sum({{ column }}) as {{ column }},
        {% endfor -%}
        sum(reported_cost_usd) as reported_cost_usd,
        sum(latency_ms) as latency_ms_sum,
        count(latency_ms) as latency_count
    from {{ ref('int_llm_requests_priced') }}
    where {{ in_partition_window('usage_date') }}
    group by {{ dimensions | join(', ') }}, price_row_id, override_id, has_reported_cost, uses_reported
),

costed as (
    select
        *,
        case when is_priced then uncached_input_tokens * input_usd_per_token
            + input_audio_tokens * (input_audio_usd_per_token - input_usd_per_token) end as input_cost_usd,
        case when is_priced then cache_read_tokens * cache_read_usd_per_token end as cache_read_cost_usd,
        case when is_priced then (cache_write_tokens - cache_write_1h_tokens) * cache_write_usd_per_token
            + cache_write_1h_tokens * cache_write_1h_usd_per_token end as cache_write_cost_usd,
        case when is_priced then output_tokens * output_usd_per_token
            + output_audio_tokens * (output_audio_usd_per_token - output_usd_per_token) end as output_cost_usd,
        case when is_priced then request_count * request_usd end as request_cost_usd,
        -- a reported cost stands for the whole request: it is not split into parts
        case when uses_reported then reported_cost_usd when is_priced then
            uncached_input_tokens * input_usd_per_token
            + input_audio_tokens * (input_audio_usd_per_token - input_usd_per_token)
            + cache_read_tokens * cache_read_usd_per_token
            + (cache_write_tokens - cache_write_1h_tokens) * cache_write_usd_per_token
            + cache_write_1h_tokens * cache_write_1h_usd_per_token + output_tokens * output_usd_per_token
            + output_audio_tokens * (output_audio_usd_per_token - output_usd_per_token)
            + request_count * request_usd
        end as total_cost_usd
    from per_rate
)

select
    {% for column in dimensions[:3] + price + dimensions[3:] %}{{ column }},
    {% endfor -%}
    has_reported_cost,
    cast(sum(request_count) as bigint) as request_count,
    {% for column in token_sums %}cast(sum({{ column }}) as bigint) as {{ column }},
    {% endfor -%}
    sum(input_cost_usd) as input_cost_usd,
    sum(cache_read_cost_usd) as cache_read_cost_usd,
    sum(cache_write_cost_usd) as cache_write_cost_usd,
    sum(output_cost_usd) as output_cost_usd,
    sum(request_cost_usd) as request_cost_usd,
    sum(total_cost_usd) as total_cost_usd,
    sum(reported_cost_usd) as reported_cost_usd,
    cast(sum(latency_ms_sum) as bigint) as latency_ms_sum,
    cast(sum(latency_count) as bigint) as latency_count
from costed
group by all
