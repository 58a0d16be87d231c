-- Community chat messages, typed. A message with a thread_id is a reply in that thread; the
-- thread_id is the message_id of the thread's first message (Slack's convention).
select
    cast(message_id as varchar)             as message_id,
    cast(channel as varchar)                as channel,
    cast(user_id as bigint)                 as user_id,
    -- The export writes ISO strings; the JSON reader may or may not have typed them already.
    cast(ts as timestamp)                   as sent_at,
    -- An all-null thread_id column can arrive typed as NULL or JSON: normalise to text.
    cast(thread_id as varchar)              as thread_id,
    thread_id is not null                   as is_reply,
    cast(text as varchar)                   as text,
    _loaded_at,
    _source_file
from {{ source('raw', 'community_messages') }}
