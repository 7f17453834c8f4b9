select
    usage_date,
    provider,
    model,
    price_model_id,
    coalesce(project, '(none)') as project,
    line_item,
    amount,
    currency,
    source as report
from {{ source('raw', 'provider_cost_reports') }}
