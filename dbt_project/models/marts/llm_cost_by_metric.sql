{{ config(pre_hook="{{ delete_partition_window('usage_date') }}", on_schema_change='fail') }}

select
    usage_date,
    coalesce(task_type, '(unallocated)') as task_type,
    provider,
    model,
    {{ llm_cost_measures() }},
    round(avg(latency_ms)) as avg_latency_ms
from {{ ref('int_llm_requests_priced') }}
where {{ in_partition_window('usage_date') }}
group by all
