{{ config(materialized='view') }}

{#-
  LLM cost per UTC hour, provider, model, team and user, priced when read. A view: the daily run writes nothing
  for it, and analytics/llm_spend_hourly reads only the days it needs (the current day, as its requests arrive,
  and the history it judges them against once), which DuckDB pushes down to the stored days of requests.
-#}
select
    usage_date,
    date_trunc('hour', timezone('UTC', occurred_at)) as usage_hour,
    provider,
    model,
    coalesce(team, '(unallocated)') as team,
    coalesce(user_id, '(unallocated)') as user_id,
    coalesce(sum(request_count), 0) as request_count,
    count(*) filter (where not is_priced) as unpriced_request_count,
    coalesce(sum(total_cost_usd), cast(0 as decimal(38, 18))) as total_cost_usd
from {{ ref('int_llm_requests_priced') }}
group by all
