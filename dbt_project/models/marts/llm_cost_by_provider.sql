select
    usage_date,
    provider,
    {{ llm_cost_measures() }}
from {{ ref('int_llm_requests_summed') }}
where {{ in_partition_window('usage_date') }}
group by all
