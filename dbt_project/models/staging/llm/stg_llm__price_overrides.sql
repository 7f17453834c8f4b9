{#- Seed values are per million tokens; multiplying by an exact 0.000001 keeps DECIMAL (dividing would not). -#}
select
    row_number() over (order by lower(provider), model, effective_from) as override_id,
    lower(provider) as provider,
    model,
    cast(effective_from as timestamptz) as effective_from,
    cast(effective_until as timestamptz) as effective_until,
    input_usd_per_mtok,
    output_usd_per_mtok,
    cache_read_usd_per_mtok,
    cache_write_usd_per_mtok,
    cast(input_usd_per_mtok * 0.000001 as decimal(38, 18)) as input_usd_per_token,
    cast(output_usd_per_mtok * 0.000001 as decimal(38, 18)) as output_usd_per_token,
    cast(cache_read_usd_per_mtok * 0.000001 as decimal(38, 18)) as cache_read_usd_per_token,
    cast(cache_write_usd_per_mtok * 0.000001 as decimal(38, 18)) as cache_write_usd_per_token,
    note
from {{ ref('llm_price_overrides') }}
