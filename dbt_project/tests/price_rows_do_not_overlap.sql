{#-
  Two price rows of one model and service tier must never both be in force for the same request: their validity
  dates, times of day and input-token tiers may not all overlap. int_llm_requests_priced relies on it (its left join to prices
  would otherwise count a request twice).
-#}
with prices as (
    select
        row_number() over () as row_id,
        price_provider_id,
        price_model_id,
        service_tier,
        effective_from,
        coalesce(effective_until, timestamptz '9999-12-31') as effective_until,
        coalesce(time_from, time '00:00:00') as time_from,
        time_until,
        min_input_tokens,
        coalesce(max_input_tokens, 9223372036854775807) as max_input_tokens
    from {{ ref('stg_llm__prices') }}
)

select a.price_provider_id, a.price_model_id, a.effective_from, b.effective_from as other_effective_from
from prices as a
inner join prices as b
    on a.price_provider_id = b.price_provider_id
    and a.price_model_id = b.price_model_id
    and a.service_tier = b.service_tier
    and a.row_id < b.row_id
    and a.effective_from < b.effective_until and b.effective_from < a.effective_until
    and (a.time_until is null or b.time_from < a.time_until)
    and (b.time_until is null or a.time_from < b.time_until)
    and a.min_input_tokens <= b.max_input_tokens and b.min_input_tokens <= a.max_input_tokens
