-- Product usage events, typed. Event ids are unique across the monthly files.
select
    cast(event_id as bigint)                as event_id,
    cast(user_id as bigint)                 as user_id,
    cast(feature as varchar)                as feature_key,
    cast(event_type as varchar)             as event_type,
    cast(occurred_at as timestamp)          as occurred_at,
    cast(occurred_at as date)               as event_date,
    _loaded_at,
    _source_file
from {{ source('raw', 'events') }}
