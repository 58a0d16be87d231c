-- Community questions: top-level messages the classifier step labelled 'question'
-- (steps.message_labels), with the feature they are about and whether anyone answered.
--
-- `topic` is the feature_key the question mentions (see int_message_topics), or 'general'.
-- A reply is any message in the question's thread; an answer is a reply from someone other than
-- the asker ("bump" or "thanks" from the asker does not make a question answered).
with messages as (

    select * from {{ ref('stg_community_messages') }}

),

labels as (

    select * from {{ source('steps', 'message_labels') }}

),

questions as (

    select
        messages.*,
        labels.confidence,
        labels.classifier
    from messages
    join labels using (message_id)
    where not messages.is_reply
      and labels.label = 'question'

),

replies as (

    select
        questions.message_id,
        count(*)                                                        as reply_count,
        count(*) filter (where replies.user_id <> questions.user_id)    as answer_count,
        min(replies.sent_at)                                            as first_reply_at,
        min(replies.sent_at) filter (where replies.user_id <> questions.user_id)
                                                                        as first_answer_at
    from questions
    join messages as replies
      on replies.thread_id = questions.message_id
    group by questions.message_id

)

select
    questions.message_id,
    questions.channel,
    questions.user_id,
    questions.sent_at                                                   as asked_at,
    questions.text,
    coalesce(topics.feature_key, 'general')                             as topic,
    coalesce(replies.reply_count, 0)                                    as reply_count,
    coalesce(replies.answer_count, 0) > 0                               as answered,
    replies.first_reply_at,
    round(date_diff('second', questions.sent_at, replies.first_reply_at) / 3600.0, 2)
                                                                        as hours_to_first_reply,
    replies.first_answer_at,
    round(date_diff('second', questions.sent_at, replies.first_answer_at) / 3600.0, 2)
                                                                        as hours_to_first_answer,
    questions.confidence                                                as label_confidence,
    questions.classifier
from questions
left join replies using (message_id)
left join {{ ref('int_message_topics') }} as topics using (message_id)
