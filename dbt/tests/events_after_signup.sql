-- No user does anything before signing up: an event earlier than its user's sign-up means the
-- clocks or the user ids of two systems disagree.
select
    events.event_id,
    events.user_id,
    events.occurred_at,
    users.signed_up_at
from {{ ref('stg_events') }} as events
join {{ ref('stg_users') }} as users using (user_id)
where events.occurred_at < users.signed_up_at
