{#-
  The price fingerprint of each day × provider × model as it was when the day was summed: built in the same run as
  int_llm_requests_summed and the marts, from llm_prices_in_force. The history_priced_with_current_prices check
  compares it with llm_prices_in_force; `cost-pipelines reprice` re-prices the days that differ.
-#}
select
    usage_date,
    provider,
    model,
    price_fingerprint,
    price_rows,
    override_rows
from {{ ref('llm_prices_in_force') }}
where {{ in_partition_window('usage_date') }}
