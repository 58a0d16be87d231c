-- The feature each community message is about, if any: one row per message that mentions a
-- feature (messages that mention none have no row; marts call them 'general').
--
-- A mention is a keyword contained in the lower-cased text: the phrases of the
-- `feature_keywords` seed plus every feature's name and key from `features`, so a feature added
-- to the catalogue is matched by its name without further work. When a message mentions
-- several features the longest keyword wins ("python cell editor" over "scheduler"), then the
-- earliest in the text, then the feature_key, so the choice is deterministic.
--
-- Ephemeral: it does not depend on the classifier step, and is inlined into the marts that use it.
with messages as (

    select message_id, lower(text) as text
    from {{ ref('stg_community_messages') }}
    where text is not null

),

keywords as (

    select feature_key, lower(trim(keyword)) as keyword from {{ ref('feature_keywords') }}
    union
    select feature_key, lower(trim(feature_name)) from {{ ref('features') }}
    union
    select feature_key, lower(feature_key) from {{ ref('features') }}
    union
    select feature_key, replace(lower(feature_key), '_', ' ') from {{ ref('features') }}

),

matches as (

    select
        messages.message_id,
        keywords.feature_key,
        length(keywords.keyword)                    as keyword_length,
        strpos(messages.text, keywords.keyword)     as position
    from messages
    join keywords
      on contains(messages.text, keywords.keyword)
    where keywords.keyword <> ''

)

select message_id, feature_key
from matches
qualify row_number() over (
    partition by message_id
    order by keyword_length desc, position, feature_key
) = 1
