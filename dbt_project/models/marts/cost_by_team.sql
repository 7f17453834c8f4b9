select
    usage_date,
    coalesce(team, '(unallocated)') as team,
    {{ llm_cost_measures() }},
    count(distinct user_id) as user_count
from {{ ref('int_llm_requests_summed') }}
where {{ in_partition_window('usage_date') }}
group by all
