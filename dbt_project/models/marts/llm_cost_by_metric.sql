select
    usage_date,
    coalesce(task_type, '(unallocated)') as task_type,
    provider,
    model,
    {{ llm_cost_measures() }},
    {{ avg_latency_ms() }}
from {{ ref('int_llm_requests_summed') }}
where {{ in_partition_window('usage_date') }}
group by all
