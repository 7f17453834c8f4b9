{{ config(pre_hook="{{ delete_partition_window('usage_date') }}", on_schema_change='fail') }}

select
    usage_date,
    provider,
    {{ llm_cost_measures() }}
from {{ ref('int_llm_requests_priced') }}
where {{ in_partition_window('usage_date') }}
group by all
