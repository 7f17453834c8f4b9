{{ config(materialized='view') }}

{#-
  For every stored day × provider × model, a fingerprint of everything its requests are priced with, as the price
  tables stand now: the genai-prices model it resolves to, every genai-prices row of that model in force on some
  part of the day (any time-of-day window or input tier) and every override that can apply to it on the day, each
  with its validity cut to the day, so a price change from a later day leaves this day's fingerprint as it was.
  llm_prices_summed_with keeps the same fingerprint as it was when the day was summed; a day where the two differ
  was priced with other prices than the current ones and needs re-pricing (`cost-pipelines reprice`).

  A view over the day × model keys of llm_cost_by_model and the price tables: no request is read, so comparing
  every stored day costs as much as the small tables it joins. Row numbers (price_row_id, override_id) are left
  out: they number the whole table and change when an unrelated row is added.
-#}

with day_models as (
    select
        day_models.usage_date,
        day_models.provider,
        day_models.model,
        timezone('UTC', cast(day_models.usage_date as timestamp)) as day_start,
        timezone('UTC', cast(day_models.usage_date as timestamp) + interval 1 day) as day_end,
        model_map.price_provider_id,
        model_map.price_model_id,
        model_map.match_status
    from {{ ref('llm_cost_by_model') }} as day_models
    left join {{ ref('stg_llm__model_map') }} as model_map
        on day_models.provider = model_map.provider and day_models.model = model_map.model
),

terms as (
    select
        usage_date,
        provider,
        model,
        'model ' || to_json([price_provider_id, price_model_id, match_status]) as term
    from day_models

    union all

    select
        day_models.usage_date,
        day_models.provider,
        day_models.model,
        'price ' || to_json([
            cast(greatest(prices.effective_from, day_models.day_start) as varchar),
            cast(least(coalesce(prices.effective_until, day_models.day_end), day_models.day_end) as varchar),
            cast(prices.time_from as varchar), cast(prices.time_until as varchar),
            cast(prices.min_input_tokens as varchar), cast(prices.max_input_tokens as varchar),
            cast(prices.input_usd_per_token as varchar), cast(prices.output_usd_per_token as varchar),
            cast(prices.cache_read_usd_per_token as varchar), cast(prices.cache_write_usd_per_token as varchar),
            cast(prices.request_usd as varchar), prices.service_tier,
            cast(prices.cache_write_1h_usd_per_token as varchar)
        ])
        -- audio rates only where a model has them: the terms of every other price read as they always did
        || case when prices.input_audio_usd_per_token is not null or prices.output_audio_usd_per_token is not null
            then ' audio ' || to_json([
                cast(prices.input_audio_usd_per_token as varchar), cast(prices.output_audio_usd_per_token as varchar)
            ]) else '' end as term
    from day_models
    inner join {{ ref('stg_llm__prices') }} as prices
        on day_models.price_provider_id = prices.price_provider_id
        and day_models.price_model_id = prices.price_model_id
        and prices.effective_from < day_models.day_end
        and (prices.effective_until is null or prices.effective_until > day_models.day_start)

    union all

    select
        day_models.usage_date,
        day_models.provider,
        day_models.model,
        'override ' || to_json([
            overrides.model,
            cast(greatest(overrides.effective_from, day_models.day_start) as varchar),
            cast(least(coalesce(overrides.effective_until, day_models.day_end), day_models.day_end) as varchar),
            cast(overrides.input_usd_per_token as varchar), cast(overrides.output_usd_per_token as varchar),
            cast(overrides.cache_read_usd_per_token as varchar), cast(overrides.cache_write_usd_per_token as varchar)
        ]) as term
    from day_models
    inner join {{ ref('stg_llm__price_overrides') }} as overrides
        on day_models.provider = overrides.provider
        and (lower(day_models.model) = lower(overrides.model) or day_models.price_model_id = overrides.model)
        and overrides.effective_from < day_models.day_end
        and (overrides.effective_until is null or overrides.effective_until > day_models.day_start)
)

select
    usage_date,
    provider,
    model,
    md5(string_agg(term, chr(10) order by term)) as price_fingerprint,
    cast(count(*) filter (where term like 'price %') as bigint) as price_rows,
    cast(count(*) filter (where term like 'override %') as bigint) as override_rows
from terms
group by usage_date, provider, model
