select
    usage_date,
    provider,
    logged_requests,
    logged_input_tokens,
    logged_output_tokens,
    buckets,
    bucket_requests,
    bucket_input_tokens,
    bucket_output_tokens
from {{ source('raw', 'llm_usage_overlaps') }}
