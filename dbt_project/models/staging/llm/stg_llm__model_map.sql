select
    provider,
    model,
    price_provider_id,
    price_model_id,
    price_model_name,
    match_status,
    coalesce(publisher, provider) as publisher
from {{ source('raw', 'llm_model_map') }}
