{{ config(materialized='view') }}

{#-
  Point-in-time pricing. Each request finds the price row in force at occurred_at for its resolved model,
  service tier, time-of-day window and input-token tier; an override in force for (provider, model) wins whole.
  Cache tokens are part of input_tokens: only the rest is billed at the input rate; 1-hour cache writes are part
  of cache_write_tokens and billed at their own rate; audio tokens are part of input_tokens and output_tokens and
  billed at the model's audio rates. A token type without its own rate is billed as the type it is part of (a
  1-hour write as a cache write, a cache write as input, audio as text), which is what genai-prices does too.

  A usage bucket (a provider's own sum of many requests) is priced as one record at the tier its provider states
  (tier_input_tokens), never by its summed input: every request under 200k input tokens stays in the lower tier
  however large their sum. A provider's buckets of a day that request logs also cover are left out.

  A request no price covers, or that used no token a price counts (a cost-only row), but whose source reported
  a cost, costs what was reported (price_source 'reported'): never $0, and still counted as unpriced when no price
  covers it, so the unpriced check names its model.

  A view: requests are priced when read, so the daily run never writes a second copy of every request; readers
  filter on usage_date and DuckDB pushes the filter down to the stored days. int_llm_requests_summed stores the
  priced requests summed per day and dimensions, which is what the marts read.

  Every join has a small side (model map, price rows, the few requests an override can apply to), so pricing a
  day stays one pass over its requests; price rows of one model never overlap in time, time of day and tier
  (tested on stg_llm__prices), so the left join finds at most one.
-#}

-- `requests` and `resolved` are read twice (every request, and the few an override can apply to): not
-- materialized, or DuckDB would copy every request of the window into a temporary result first, which costs more
-- than the pricing itself.
with requests as not materialized (
    select requests.*
    from {{ ref('stg_llm__requests') }} as requests
    -- one source of truth per provider and day: where request logs cover a provider's day, its usage buckets
    -- are not counted again (raw.llm_usage_overlaps compares the two)
    left join {{ ref('stg_llm__usage_overlaps') }} as logged
        on requests.record_kind = 'usage_bucket'
        and requests.usage_date = logged.usage_date and requests.provider = logged.provider
    where logged.provider is null
),

resolved as not materialized (
    select
        requests.*,
        model_map.price_provider_id,
        model_map.price_model_id,
        coalesce(model_map.publisher, requests.provider) as publisher,
        coalesce(model_map.match_status, 'unresolved') as match_status
    from requests
    left join {{ ref('stg_llm__model_map') }} as model_map
        on requests.provider = model_map.provider and requests.model = model_map.model
),

-- the (provider, model) pairs some override can apply to: usually none or a handful
override_keys as (
    select distinct model_map.provider, model_map.model
    from {{ ref('stg_llm__model_map') }} as model_map
    inner join {{ ref('stg_llm__price_overrides') }} as overrides
        on model_map.provider = overrides.provider
        and (lower(model_map.model) = lower(overrides.model) or model_map.price_model_id = overrides.model)
),

override_prices as (
    select
        resolved.usage_date,
        resolved.request_id,
        overrides.override_id,
        overrides.input_usd_per_token,
        overrides.output_usd_per_token,
        overrides.cache_read_usd_per_token,
        overrides.cache_write_usd_per_token,
        cast(null as decimal(38, 18)) as cache_write_1h_usd_per_token,
        cast(null as decimal(38, 18)) as input_audio_usd_per_token,
        cast(null as decimal(38, 18)) as output_audio_usd_per_token,
        cast(null as decimal(38, 18)) as request_usd
    from resolved
    inner join override_keys
        on resolved.provider = override_keys.provider and resolved.model = override_keys.model
    inner join {{ ref('stg_llm__price_overrides') }} as overrides
        on resolved.provider = overrides.provider
        and (lower(resolved.model) = lower(overrides.model) or resolved.price_model_id = overrides.model)
        and resolved.occurred_at >= overrides.effective_from
        and (overrides.effective_until is null or resolved.occurred_at < overrides.effective_until)
    -- An override naming the exact model string beats one naming the genai-prices model id.
    qualify row_number() over (
        partition by resolved.usage_date, resolved.request_id
        order by (lower(resolved.model) = lower(overrides.model)) desc, overrides.effective_from desc
    ) = 1
),

chosen as (
    select
        resolved.*,
        case
            when override_prices.request_id is not null then 'override'
            when prices.price_model_id is not null then 'genai-prices'
        end as price_source,
        override_prices.override_id,
        case when override_prices.request_id is null then prices.price_row_id end as price_row_id,
        coalesce(override_prices.input_usd_per_token, prices.input_usd_per_token) as input_usd_per_token,
        coalesce(override_prices.output_usd_per_token, prices.output_usd_per_token) as output_usd_per_token,
        case when override_prices.request_id is not null then override_prices.cache_read_usd_per_token
            else prices.cache_read_usd_per_token end as cache_read_usd_per_token,
        case when override_prices.request_id is not null then override_prices.cache_write_usd_per_token
            else prices.cache_write_usd_per_token end as cache_write_usd_per_token,
        case when override_prices.request_id is not null then override_prices.cache_write_1h_usd_per_token
            else prices.cache_write_1h_usd_per_token end as cache_write_1h_usd_per_token,
        case when override_prices.request_id is not null then override_prices.input_audio_usd_per_token
            else prices.input_audio_usd_per_token end as input_audio_usd_per_token,
        case when override_prices.request_id is not null then override_prices.output_audio_usd_per_token
            else prices.output_audio_usd_per_token end as output_audio_usd_per_token,
        case when override_prices.request_id is not null then override_prices.request_usd
            else prices.request_usd end as request_usd
    from resolved
    left join {{ ref('stg_llm__prices') }} as prices
        on resolved.price_provider_id = prices.price_provider_id
        and resolved.price_model_id = prices.price_model_id
        and resolved.service_tier = prices.service_tier
        and resolved.occurred_at >= prices.effective_from
        and (prices.effective_until is null or resolved.occurred_at < prices.effective_until)
        and (prices.time_from is null or cast(timezone('UTC', resolved.occurred_at) as time) >= prices.time_from)
        and (prices.time_until is null or cast(timezone('UTC', resolved.occurred_at) as time) < prices.time_until)
        and coalesce(resolved.tier_input_tokens, resolved.input_tokens) >= prices.min_input_tokens
        and (prices.max_input_tokens is null
            or coalesce(resolved.tier_input_tokens, resolved.input_tokens) <= prices.max_input_tokens)
    left join override_prices
        on resolved.usage_date = override_prices.usage_date and resolved.request_id = override_prices.request_id
),

rated as (
    select
        *,
        input_usd_per_token is not null and output_usd_per_token is not null as is_priced,
        input_tokens - cache_read_tokens - cache_write_tokens as uncached_input_tokens,
        cache_write_tokens - cache_write_1h_tokens as cache_write_5m_tokens,
        coalesce(cache_write_usd_per_token, input_usd_per_token) as cache_write_rate,
        coalesce(cache_write_1h_usd_per_token, cache_write_usd_per_token, input_usd_per_token) as cache_write_1h_rate,
        coalesce(input_audio_usd_per_token, input_usd_per_token) as input_audio_rate,
        coalesce(output_audio_usd_per_token, output_usd_per_token) as output_audio_rate,
        coalesce(request_usd, cast(0 as decimal(38, 18))) * coalesce(request_count, 0) as request_fee_usd
    from chosen
),

costed as (
    select
        * replace (case when uses_reported then 'reported' else price_source end as price_source)
    from (
        select
            *,
            coalesce(reported_cost_usd > 0 and (
                not is_priced or (input_tokens = 0 and output_tokens = 0 and coalesce(request_usd, 0) = 0)
            ), false) as uses_reported
        from rated
    )
)

select
    request_id,
    occurred_at,
    usage_date,
    provider,
    model,
    price_provider_id,
    price_model_id,
    publisher,
    user_id,
    team,
    project,
    environment,
    task_type,
    status,
    latency_ms,
    service_tier,
    record_kind,
    request_count,
    tier_input_tokens,
    input_tokens,
    uncached_input_tokens,
    cache_read_tokens,
    cache_write_tokens,
    cache_write_1h_tokens,
    output_tokens,
    input_audio_tokens,
    output_audio_tokens,
    is_priced,
    case
        when is_priced and uses_reported then 'priced: no token a price counts; cost as reported by the source'
        when is_priced then 'priced'
        else case
            when match_status = 'unknown_provider' then 'unpriced: provider unknown to genai-prices and no override'
            when match_status in ('unknown_model', 'unresolved')
                then 'unpriced: model unknown to genai-prices and no override'
            when price_row_id is null and override_id is null then 'unpriced: no price in force at occurred_at'
            else 'unpriced: price has no token rates'
        end || case when uses_reported then '; cost as reported by the source' else '' end
    end as pricing_status,
    price_source,
    price_row_id,
    override_id,
    input_usd_per_token,
    coalesce(cache_read_usd_per_token, input_usd_per_token) as cache_read_usd_per_token,
    cache_write_rate as cache_write_usd_per_token,
    cache_write_1h_rate as cache_write_1h_usd_per_token,
    output_usd_per_token,
    input_audio_rate as input_audio_usd_per_token,
    output_audio_rate as output_audio_usd_per_token,
    case when is_priced then coalesce(request_usd, cast(0 as decimal(38, 18))) end as request_usd,
    -- audio tokens are part of the uncached input and of the output: they cost their rate instead of the text one
    case when is_priced then uncached_input_tokens * input_usd_per_token
        + input_audio_tokens * (input_audio_rate - input_usd_per_token) end as input_cost_usd,
    case when is_priced
        then cache_read_tokens * coalesce(cache_read_usd_per_token, input_usd_per_token) end as cache_read_cost_usd,
    case when is_priced then cache_write_5m_tokens * cache_write_rate + cache_write_1h_tokens * cache_write_1h_rate
    end as cache_write_cost_usd,
    case when is_priced then output_tokens * output_usd_per_token
        + output_audio_tokens * (output_audio_rate - output_usd_per_token) end as output_cost_usd,
    case when is_priced then request_fee_usd end as request_cost_usd,
    case when uses_reported then reported_cost_usd when is_priced then
        uncached_input_tokens * input_usd_per_token
        + input_audio_tokens * (input_audio_rate - input_usd_per_token)
        + cache_read_tokens * coalesce(cache_read_usd_per_token, input_usd_per_token)
        + cache_write_5m_tokens * cache_write_rate + cache_write_1h_tokens * cache_write_1h_rate
        + output_tokens * output_usd_per_token
        + output_audio_tokens * (output_audio_rate - output_usd_per_token)
        + request_fee_usd
    end as total_cost_usd,
    reported_cost_usd,
    source_file
from costed
