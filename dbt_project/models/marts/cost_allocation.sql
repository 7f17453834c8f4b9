{{ config(window_start_var='aws_min_date') }}

{#- Spend per allocation tag value, with what carries no value for the tag shown as (unallocated). -#}

with costs as (
    select * from {{ ref('fct_costs') }}
    where {{ in_partition_window('usage_date', 'aws_min_date') }}
),

by_tag as (
    select usage_date, 'team' as tag_key, x_team as tag_value, billed_cost, effective_cost from costs
    union all
    select usage_date, 'project', x_project, billed_cost, effective_cost from costs
    union all
    select usage_date, 'environment', x_environment, billed_cost, effective_cost from costs
    union all
    select usage_date, 'user', x_user_id, billed_cost, effective_cost from costs
),

allocated as (
    select
        usage_date,
        tag_key,
        coalesce(nullif(tag_value, ''), '(unallocated)') as tag_value,
        sum(billed_cost) as billed_cost,
        sum(effective_cost) as effective_cost
    from by_tag
    group by all
)

select
    *,
    tag_value = '(unallocated)' as is_unallocated,
    -- A share, not money: a float is fine here; the dollars above stay exact.
    cast(billed_cost as double) / nullif(sum(cast(billed_cost as double)) over (partition by usage_date, tag_key), 0)
        as share_of_day
from allocated
