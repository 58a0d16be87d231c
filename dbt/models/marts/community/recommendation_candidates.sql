-- Who should get a personalised message, and about what. Read by the personalised-messages
-- action. One row per user, campaign and period:
--
--   try_feature          active users (an event in the last 30 days of data) who never used a
--                        popular feature (used by at least 30% of active users): the most
--                        popular one they have not tried.
--   unanswered_question  users with a question nobody answered (community_questions): their
--                        latest one; feature_key is its topic unless that is 'general'.
--
-- "Now" is the latest event in the data, never the wall clock, so a rebuild of the same data
-- gives the same rows, and `period` (that event's month, 'YYYY-MM') lets the action tell this
-- month's candidates from last month's. Only users with an e-mail address are candidates.
{% set active_window_days = 30 %}
{% set popular_share = 0.3 %}

with events as (

    select * from {{ ref('stg_events') }}

),

features as (

    select * from {{ ref('features') }}

),

users as (

    select * from {{ ref('stg_users') }}
    where email is not null and email <> ''

),

as_of as (

    select
        max(occurred_at)                                as latest_event_at,
        strftime(max(occurred_at), '%Y-%m')             as period
    from events

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

),

try_feature as (

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

),

unanswered as (

    select
        user_id,
        case when topic <> 'general' then topic end    as feature_key,
        text                                            as question_text
    from {{ ref('community_questions') }}
    where not answered
    qualify row_number() over (
        partition by user_id
        order by asked_at desc, message_id desc
    ) = 1

),

candidates as (

    select user_id, 'try_feature' as campaign, feature_key, null as question_text
    from try_feature
    union all
    select user_id, 'unanswered_question' as campaign, feature_key, question_text
    from unanswered

)

select
    cast(candidates.user_id as bigint)                  as user_id,
    cast(users.email as varchar)                        as email,
    cast(users.name as varchar)                         as name,
    cast(users.plan as varchar)                         as plan,
    cast(candidates.campaign as varchar)                as campaign,
    cast(candidates.feature_key as varchar)             as feature_key,
    cast(features.feature_name as varchar)              as feature_name,
    cast(candidates.question_text as varchar)           as question_text,
    cast(as_of.period as varchar)                       as period
from candidates
join users using (user_id)
cross join as_of
left join features using (feature_key)
order by campaign, user_id
