{{ config(window_start_var='aws_min_date') }}

{#-
  One bill for cloud and LLM spend (Cost Explorer, priced LLM requests and FOCUS exports), with FOCUS 1.0
  column names where they fit and x_ extensions for LLM detail. Grain: day × provider × service × sub-account × allocation tags (× model for LLM rows).
  The window starts at aws_min_date because Cost Explorer days before the partition are restated too.
-#}

with aws as (
    select
        usage_date,
        'AWS' as provider_name,
        coalesce(ce.service_name, '(no spend)') as service_name,
        coalesce(categories.service_category, 'Other') as service_category,
        ce.linked_account_id as sub_account_id,
        sum(ce.unblended_cost_usd) as billed_cost,
        sum(ce.amortized_cost_usd) as effective_cost,
        sum(ce.usage_quantity) as consumed_quantity,
        bool_or(ce.is_estimated) as x_is_estimated,
        'cost_explorer' as x_source
    from {{ ref('stg_aws__cost_explorer_daily') }} as ce
    left join {{ ref('aws_service_categories') }} as categories on ce.service_name = categories.service_name
    where {{ in_partition_window('usage_date', 'aws_min_date') }}
    group by all
),

llm as (
    select
        usage_date,
        provider as provider_name,
        'LLM API' as service_name,
        'AI and Machine Learning' as service_category,
        team as x_team,
        project as x_project,
        environment as x_environment,
        user_id as x_user_id,
        model as x_model,
        coalesce(sum(total_cost_usd), 0) as billed_cost,
        coalesce(sum(total_cost_usd), 0) as effective_cost,
        coalesce(sum(total_cost_usd), 0) as list_cost,
        cast(sum(input_tokens + output_tokens) as decimal(38, 18)) as consumed_quantity,
        'Tokens' as consumed_unit,
        cast(sum(request_count) as bigint) as x_request_count,
        cast(coalesce(sum(request_count) filter (where not is_priced), 0) as bigint) as x_unpriced_request_count,
        cast(sum(input_tokens) as bigint) as x_input_tokens,
        cast(sum(cache_read_tokens) as bigint) as x_cache_read_tokens,
        cast(sum(cache_write_tokens) as bigint) as x_cache_write_tokens,
        cast(sum(output_tokens) as bigint) as x_output_tokens,
        false as x_is_estimated,
        'llm_logs' as x_source
    from {{ ref('int_llm_requests_summed') }}
    where {{ in_partition_window('usage_date', 'aws_min_date') }}
    group by all
),

focus as (
    select
        usage_date,
        provider_name,
        coalesce(service_name, '(unknown)') as service_name,
        service_category,
        sub_account_id,
        tag_team as x_team,
        tag_project as x_project,
        tag_environment as x_environment,
        tag_user as x_user_id,
        sum(billed_cost) as billed_cost,
        sum(effective_cost) as effective_cost,
        sum(list_cost) as list_cost,
        case when count(distinct consumed_unit) = 1 then sum(consumed_quantity) end as consumed_quantity,
        case when count(distinct consumed_unit) = 1 then min(consumed_unit) end as consumed_unit,
        false as x_is_estimated,
        'focus' as x_source
    from {{ ref('stg_focus__charges') }}
    where {{ in_partition_window('usage_date', 'aws_min_date') }}
    group by usage_date, provider_name, coalesce(service_name, '(unknown)'), service_category, sub_account_id,
        tag_team, tag_project, tag_environment, tag_user
),

-- union by name fills the columns a source does not have with NULL.
unioned as (
    select * from aws
    union all by name
    select * from llm
    union all by name
    select * from focus
)

select
    usage_date,
    cast(usage_date as timestamptz) as charge_period_start,
    cast(usage_date + interval 1 day as timestamptz) as charge_period_end,
    provider_name,
    service_name,
    service_category,
    sub_account_id,
    billed_cost,
    effective_cost,
    list_cost,
    'USD' as billing_currency,
    consumed_quantity,
    consumed_unit,
    to_json({'team': x_team, 'project': x_project, 'environment': x_environment, 'user': x_user_id}) as tags,
    x_team,
    x_project,
    x_environment,
    x_user_id,
    x_model,
    x_request_count,
    x_unpriced_request_count,
    x_input_tokens,
    x_cache_read_tokens,
    x_cache_write_tokens,
    x_output_tokens,
    x_is_estimated,
    x_source
from unioned
