{#-
  Computed against reported cost, two ways (reported_by):

  - 'source': over the same requests, those whose source reported a cost (a gateway's cost_usd, LiteLLM's spend,
    Langfuse's costDetails, OpenRouter's total_cost). Requests costed by their reported figure (no price covers
    them) are not compared, only summed apart.
  - 'provider_cost_report': what the provider's own cost report billed the day (OpenAI's Costs API, Anthropic's
    cost report), per model and project, against everything the price table computed for that provider, model
    (as genai-prices resolves it) and project. Lines of the report that are no model's (a tool's calls) are
    listed as unpriced reported cost. Only USD amounts are compared.

  Drift is computed − reported; a positive drift means the price table charges more than was billed.
-#}
with from_sources as (
    select
        usage_date,
        provider,
        model,
        coalesce(project, '(none)') as project,
        'source' as reported_by,
        cast(sum(request_count) as bigint) as reporting_request_count,
        cast(coalesce(sum(request_count) filter (where compared), 0) as bigint) as priced_request_count,
        coalesce(sum(total_cost_usd) filter (where compared), 0) as computed_cost_usd,
        coalesce(sum(reported_cost_usd) filter (where compared), 0) as reported_cost_usd,
        coalesce(sum(reported_cost_usd) filter (where not compared), 0) as unpriced_reported_cost_usd
    from (
        -- compared: a price covers the requests; the others cost what was reported (price_source 'reported')
        select *, is_priced and price_source <> 'reported' as compared
        from {{ ref('int_llm_requests_summed') }}
        where {{ in_partition_window('usage_date') }} and has_reported_cost
    )
    group by all
),

billed as (
    select usage_date, provider, coalesce(price_model_id, model) as model, project, sum(amount) as amount
    from {{ ref('stg_llm__provider_costs') }}
    where {{ in_partition_window('usage_date') }} and currency = 'USD'
    group by all
),

computed as (
    select
        usage_date,
        provider,
        coalesce(price_model_id, model) as model,
        coalesce(project, '(none)') as project,
        sum(request_count) as request_count,
        coalesce(sum(request_count) filter (where is_priced), 0) as priced_request_count,
        coalesce(sum(total_cost_usd) filter (where is_priced), 0) as computed_cost_usd
    from {{ ref('int_llm_requests_summed') }}
    where {{ in_partition_window('usage_date') }}
        and provider in (select distinct provider from billed)
    group by all
),

from_cost_reports as (
    select
        billed.usage_date,
        billed.provider,
        coalesce(billed.model, '(no model)') as model,
        billed.project,
        'provider_cost_report' as reported_by,
        cast(coalesce(computed.request_count, 0) as bigint) as reporting_request_count,
        cast(case when billed.model is null then 0 else coalesce(computed.priced_request_count, 0) end as bigint)
            as priced_request_count,
        case when billed.model is null then 0 else coalesce(computed.computed_cost_usd, 0) end as computed_cost_usd,
        case when billed.model is null then 0 else billed.amount end as reported_cost_usd,
        case when billed.model is null then billed.amount else 0 end as unpriced_reported_cost_usd
    from billed
    left join computed
        on billed.usage_date = computed.usage_date and billed.provider = computed.provider
        and billed.model = computed.model and billed.project = computed.project
),

compared as (
    select * from from_sources
    union all
    select * from from_cost_reports
)

select
    usage_date,
    provider,
    model,
    project,
    reported_by,
    reporting_request_count,
    priced_request_count,
    computed_cost_usd,
    reported_cost_usd,
    computed_cost_usd - reported_cost_usd as drift_usd,
    case when reported_cost_usd <> 0 then
        cast((computed_cost_usd - reported_cost_usd) / reported_cost_usd as decimal(38, 12))
    end as drift_share,
    unpriced_reported_cost_usd
from compared
