select
    -- numbers the rows of one query's view of the table: lets a query group by "the price row" as one integer
    row_number() over (
        order by provider_id, model_id, service_tier, effective_from, time_from nulls first, min_input_tokens
    ) as price_row_id,
    provider_id as price_provider_id,
    model_id as price_model_id,
    cast(effective_from as timestamptz) as effective_from,
    cast(effective_until as timestamptz) as effective_until,
    time_from,
    time_until,
    min_input_tokens,
    max_input_tokens,
    service_tier,
    input_usd_per_mtok,
    output_usd_per_mtok,
    cache_read_usd_per_mtok,
    cache_write_usd_per_mtok,
    cache_write_1h_usd_per_mtok,
    input_audio_usd_per_mtok,
    output_audio_usd_per_mtok,
    input_usd_per_token,
    output_usd_per_token,
    cache_read_usd_per_token,
    cache_write_usd_per_token,
    cache_write_1h_usd_per_token,
    input_audio_usd_per_token,
    output_audio_usd_per_token,
    request_usd,
    source_version
from {{ source('raw', 'llm_prices') }}
