{#- Named columns for the dimensions most runs group by; the generic pair stays for tag or category groups. -#}
select
    usage_date,
    case when dimension_1 = 'SERVICE' then value_1 when dimension_2 = 'SERVICE' then value_2 end as service_name,
    case when dimension_1 = 'LINKED_ACCOUNT' then value_1 when dimension_2 = 'LINKED_ACCOUNT' then value_2 end
        as linked_account_id,
    dimension_1,
    value_1,
    dimension_2,
    value_2,
    unblended_cost as unblended_cost_usd,
    amortized_cost as amortized_cost_usd,
    net_unblended_cost as net_unblended_cost_usd,
    usage_quantity,
    currency,
    is_estimated
from {{ source('raw', 'aws_cost_explorer_daily') }}
