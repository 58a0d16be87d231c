-- One row per user: who they are and how much they use the product.
-- Users without any event are kept (with zero counts): they are the ones to re-engage.
with users as (

    select * from {{ ref('stg_users') }}

),

usage as (

    select
        user_id,
        count(distinct event_date)      as active_days,
        count(*)                        as events,
        count(distinct feature_key)     as features_used,
        min(occurred_at)                as first_event_at,
        max(occurred_at)                as last_event_at
    from {{ ref('stg_events') }}
    group by user_id

)

select
    users.user_id,
    users.email,
    users.plan,
    users.country,
    users.company,
    users.signed_up_at,
    coalesce(usage.active_days, 0)      as active_days,
    coalesce(usage.events, 0)           as events,
    coalesce(usage.features_used, 0)    as features_used,
    usage.first_event_at,
    usage.last_event_at
from users
left join usage using (user_id)
