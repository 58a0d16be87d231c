-- The feature each community message is about, if any: one row per message that mentions a
-- feature (messages that mention none have no row; marts call them 'general'). How a mention
-- is found, and why it is kept incrementally, is in int_message_topic_scan; this view only
-- leaves out the messages without a topic.
{{ config(materialized='view') }}

select message_id, feature_key
from {{ ref('int_message_topic_scan') }}
where feature_key is not null
