-- Who should get a personalised message, and about what. Read by the personalised-messages
-- action. One row per user, campaign and period:
--
--   try_feature          active users (an event in the last 30 days of data) who never used a
--                        popular feature (used by at least 30% of active users): the most
--                        popular one they have not tried (int_feature_suggestions, built from
--                        events alone, so a new message does not scan the events again).
--   unanswered_question  users with a question nobody answered (community_questions): their
--                        latest one; feature_key is its topic unless that is 'general'.
--
-- "Now" is the latest event in the data, never the wall clock, so a rebuild of the same data
-- gives the same rows, and `period` (that event's month, 'YYYY-MM') lets the action tell this
-- month's candidates from last month's. Only users with an e-mail address are candidates.
with features as (

    select * from {{ ref('features') }}

),

users as (

    select * from {{ ref('stg_users') }}
    where email is not null and email <> ''

),

as_of as (

    select strftime(max(occurred_at), '%Y-%m') as period
    from {{ ref('stg_events') }}

),

try_feature as (

    select user_id, feature_key from {{ ref('int_feature_suggestions') }}

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
