select
    usage_date,
    {{ llm_cost_measures() }},
    count(distinct provider) as provider_count,
    count(distinct model) as model_count,
    count(distinct user_id) as user_count
from {{ ref('int_llm_requests_summed') }}
where {{ in_partition_window('usage_date') }}
group by all
