{#-
  Computed against reported cost, over the same requests: those whose source reported a cost (a gateway's
  cost_usd, LiteLLM's spend, Langfuse's costDetails, OpenRouter's total_cost). Drift is computed − reported; a
  positive drift means the price table charges more than the source says it was billed.
-#}
select
    usage_date,
    provider,
    model,
    coalesce(project, '(none)') as project,
    cast(sum(request_count) as bigint) as reporting_request_count,
    cast(coalesce(sum(request_count) filter (where is_priced), 0) as bigint) as priced_request_count,
    coalesce(sum(total_cost_usd) filter (where is_priced), 0) as computed_cost_usd,
    coalesce(sum(reported_cost_usd) filter (where is_priced), 0) as reported_cost_usd,
    coalesce(sum(total_cost_usd) filter (where is_priced), 0)
        - coalesce(sum(reported_cost_usd) filter (where is_priced), 0) as drift_usd,
    case when coalesce(sum(reported_cost_usd) filter (where is_priced), 0) <> 0 then
        cast((coalesce(sum(total_cost_usd) filter (where is_priced), 0)
              - sum(reported_cost_usd) filter (where is_priced))
             / sum(reported_cost_usd) filter (where is_priced) as decimal(38, 12))
    end as drift_share,
    coalesce(sum(reported_cost_usd) filter (where not is_priced), 0) as unpriced_reported_cost_usd
from {{ ref('int_llm_requests_summed') }}
where {{ in_partition_window('usage_date') }} and has_reported_cost
group by all
