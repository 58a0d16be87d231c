-- One row per feature of the catalogue (the `features` seed), including features nobody uses:
-- an unused feature is a finding, not a missing row.
with features as (

    select * from {{ ref('features') }}

),

events as (

    select * from {{ ref('stg_events') }}

),

per_feature as (

    select
        feature_key,
        count(distinct user_id)     as users,
        count(*)                    as events
    from events
    group by feature_key

),

active as (

    -- The denominator: users with at least one event of any feature.
    select count(distinct user_id) as active_users from events

)

select
    features.feature_key,
    features.feature_name,
    features.category,
    features.released_at,
    coalesce(per_feature.users, 0)                                      as users,
    coalesce(per_feature.events, 0)                                     as events,
    round(coalesce(per_feature.users, 0) / nullif(active.active_users, 0), 4)
                                                                        as share_of_active_users
from features
cross join active
left join per_feature using (feature_key)
