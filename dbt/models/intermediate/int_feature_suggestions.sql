-- For each active user (an event in the last 30 days of data), the most popular feature they
-- never used, among the features used by at least 30% of active users. "Now" is the latest
-- event in the data, never the wall clock, so a rebuild of the same data gives the same rows.
--
-- Kept apart from recommendation_candidates because it is built from events alone: a new
-- community message rebuilds the candidates without scanning every event again.
{% set active_window_days = 30 %}
{% set popular_share = 0.3 %}

with events as (

    select * from {{ ref('stg_events') }}

),

as_of as (

    select max(occurred_at) as latest_event_at from events

),

active_users as (

    select distinct events.user_id
    from events
    cross join as_of
    where events.occurred_at > as_of.latest_event_at - interval {{ active_window_days }} day

),

used as (

    -- Which features each active user has ever used (not only in the window).
    select distinct events.user_id, events.feature_key
    from events
    join active_users using (user_id)

),

popular as (

    select
        feature_key,
        count(*) / (select count(*) from active_users)  as share_of_active_users
    from used
    group by feature_key
    having count(*) >= {{ popular_share }} * (select count(*) from active_users)

)

select
    active_users.user_id,
    popular.feature_key
from active_users
cross join popular
anti join used
  on used.user_id = active_users.user_id
 and used.feature_key = popular.feature_key
qualify row_number() over (
    partition by active_users.user_id
    order by popular.share_of_active_users desc, popular.feature_key
) = 1
