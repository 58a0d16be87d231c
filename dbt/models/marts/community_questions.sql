-- Top-level community messages that look like questions, and whether anyone answered.
--
-- "Looks like a question" is a deliberately simple heuristic (a question mark, or a first word
-- such as how/why/what/can): it misses questions phrased as statements and catches rhetorical
-- bug reports. A classifier step is meant to replace it; until then this is the baseline.
with messages as (

    select * from {{ ref('stg_community_messages') }}

),

top_level as (

    select *
    from messages
    where not is_reply

),

questions as (

    select *
    from top_level
    where contains(text, '?')
       or regexp_matches(
            lower(trim(text)),
            '^(how|why|what|when|where|which|who|is|are|can|could|does|do|did|should|would|anyone|any)\b'
          )

),

replies as (

    -- An answer is a reply from someone other than the asker: "bump" or "thanks" from the
    -- asker does not make a question answered.
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
    questions.sent_at,
    questions.text,
    coalesce(replies.reply_count, 0)                                    as reply_count,
    coalesce(replies.answer_count, 0) > 0                               as answered,
    replies.first_reply_at,
    date_diff('minute', questions.sent_at, replies.first_answer_at) / 60.0
                                                                        as hours_to_first_answer
from questions
left join replies using (message_id)
