select
    usage_date,
    coalesce(user_id, '(unallocated)') as user_id,
    coalesce(team, '(unallocated)') as team,
    {{ llm_cost_measures() }}
from {{ ref('int_llm_requests_summed') }}
where {{ in_partition_window('usage_date') }}
group by all
