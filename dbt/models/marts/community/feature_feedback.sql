-- What the community says about each feature of the catalogue: messages the classifier step
-- labelled feedback, bug or praise, counted under the feature they mention (int_message_topics:
-- one feature per message). Replies count too ("+1, same here" under a bug report is a bug
-- message if the classifier says so). Features nobody mentions keep their row, with zeros.
with features as (

    select * from {{ ref('features') }}

),

labelled as (

    select
        topics.feature_key,
        labels.label,
        messages.sent_at
    from {{ ref('stg_community_messages') }} as messages
    join {{ source('steps', 'message_labels') }} as labels using (message_id)
    join {{ ref('int_message_topics') }} as topics using (message_id)
    where labels.label in ('feedback', 'bug', 'praise')

),

per_feature as (

    select
        feature_key,
        count(*) filter (where label = 'feedback')      as feedback_messages,
        count(*) filter (where label = 'bug')           as bug_messages,
        count(*) filter (where label = 'praise')        as praise_messages,
        count(*)                                        as messages,
        max(sent_at)                                    as latest_message_at
    from labelled
    group by feature_key

)

select
    features.feature_key,
    features.feature_name,
    features.category,
    coalesce(per_feature.feedback_messages, 0)                          as feedback_messages,
    coalesce(per_feature.bug_messages, 0)                               as bug_messages,
    coalesce(per_feature.praise_messages, 0)                            as praise_messages,
    coalesce(per_feature.messages, 0)                                   as messages,
    -- bugs / (feedback + bugs + praise); null when nobody mentioned the feature at all.
    round(per_feature.bug_messages / nullif(per_feature.messages, 0), 4)
                                                                        as bug_share,
    per_feature.latest_message_at
from features
left join per_feature using (feature_key)
