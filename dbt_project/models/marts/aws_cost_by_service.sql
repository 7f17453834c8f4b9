{{ config(window_start_var='aws_min_date') }}

select
    usage_date,
    coalesce(service_name, '(no spend)') as service_name,
    count(distinct linked_account_id) as linked_account_count,
    sum(unblended_cost_usd) as unblended_cost_usd,
    sum(amortized_cost_usd) as amortized_cost_usd,
    sum(net_unblended_cost_usd) as net_unblended_cost_usd,
    bool_or(is_estimated) as is_estimated
from {{ ref('stg_aws__cost_explorer_daily') }}
where {{ in_partition_window('usage_date', 'aws_min_date') }}
group by all
