{#-
  Computed against reported cost, over the same requests: those whose source reported a cost (a gateway's
  cost_usd, LiteLLM's spend, Langfuse's costDetails, OpenRouter's total_cost). Drift is computed − reported; a
  positive drift means the price table charges more than the source says it was billed. Requests costed by their
  reported figure (no price covers them) are not compared, only summed apart.
-#}
select
    usage_date,
    provider,
    model,
    coalesce(project, '(none)') as project,
    cast(sum(request_count) as bigint) as reporting_request_count,
    cast(coalesce(sum(request_count) filter (where compared), 0) as bigint) as priced_request_count,
    coalesce(sum(total_cost_usd) filter (where compared), 0) as computed_cost_usd,
    coalesce(sum(reported_cost_usd) filter (where compared), 0) as reported_cost_usd,
    coalesce(sum(total_cost_usd) filter (where compared), 0)
        - coalesce(sum(reported_cost_usd) filter (where compared), 0) as drift_usd,
    case when coalesce(sum(reported_cost_usd) filter (where compared), 0) <> 0 then
        cast((coalesce(sum(total_cost_usd) filter (where compared), 0)
              - sum(reported_cost_usd) filter (where compared))
             / sum(reported_cost_usd) filter (where compared) as decimal(38, 12))
    end as drift_share,
    coalesce(sum(reported_cost_usd) filter (where not compared), 0) as unpriced_reported_cost_usd
from (
    -- compared: a price covers the requests; the others cost what was reported (price_source 'reported')
    select *, is_priced and price_source <> 'reported' as compared
    from {{ ref('int_llm_requests_summed') }}
    where {{ in_partition_window('usage_date') }} and has_reported_cost
)
group by all
