select
    usage_date,
    provider,
    model,
    coalesce(price_model_id, '(unknown)') as price_model_id,
    publisher,
    {{ llm_cost_measures() }},
    {{ avg_latency_ms() }}
from {{ ref('int_llm_requests_summed') }}
where {{ in_partition_window('usage_date') }}
group by all
