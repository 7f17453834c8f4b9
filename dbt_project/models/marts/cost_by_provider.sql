{{ config(window_start_var='aws_min_date') }}

select
    usage_date,
    provider_name,
    service_category,
    sum(billed_cost) as billed_cost,
    sum(effective_cost) as effective_cost,
    coalesce(sum(x_request_count), 0) as x_request_count,
    bool_or(x_is_estimated) as x_is_estimated
from {{ ref('fct_costs') }}
where {{ in_partition_window('usage_date', 'aws_min_date') }}
group by all
