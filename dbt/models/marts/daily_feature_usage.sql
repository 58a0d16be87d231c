-- Events and distinct users per day and feature. Incremental: events only ever arrive for recent
-- days, so a run re-computes from the latest day already in the table (inclusive, since that day
-- may have been partial) instead of scanning all history. delete+insert replaces those days whole.
{{
    config(
        materialized='incremental',
        unique_key=['day', 'feature_key'],
        incremental_strategy='delete+insert',
    )
}}

with events as (

    select * from {{ ref('stg_events') }}
    {% if is_incremental() %}
    -- On occurred_at rather than event_date, so that DuckDB can skip row groups of the files.
    where occurred_at >= (select cast(coalesce(max(day), date '1970-01-01') as timestamp) from {{ this }})
    {% endif %}

)

select
    event_date                  as day,
    feature_key,
    count(*)                    as events,
    count(distinct user_id)     as users
from events
group by all
