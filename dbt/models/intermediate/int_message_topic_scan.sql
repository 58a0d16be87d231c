-- Every community message once, with the feature it mentions or null: the state that lets
-- int_message_topics follow new messages without matching every message against every
-- keyword again (the costliest SQL of a community re-run).
--
-- A mention is a keyword contained in the lower-cased text: the phrases of the
-- `feature_keywords` seed plus every feature's name and key from `features`, so a feature added
-- to the catalogue is matched by its name without further work. When a message mentions
-- several features the longest keyword wins ("python cell editor" over "scheduler"), then the
-- earliest in the text, then the feature_key, so the choice is deterministic.
--
-- Incremental, and equal to a full rebuild by construction: `scan_key` hashes the message's
-- text together with this model's SQL and the keyword list, so a re-run matches exactly the
-- messages that are new, whose text changed (an edited or reloaded file), or all of them when
-- the keywords or this SQL changed; rows of messages retracted from raw are deleted after.
{{ config(
    materialized='incremental',
    unique_key='message_id',
    incremental_strategy='delete+insert',
    post_hook="delete from {{ this }} where message_id not in
               (select message_id from {{ ref('stg_community_messages') }})"
) }}

with keywords as (

    select feature_key, lower(trim(keyword)) as keyword from {{ ref('feature_keywords') }}
    union
    select feature_key, lower(trim(feature_name)) from {{ ref('features') }}
    union
    select feature_key, lower(feature_key) from {{ ref('features') }}
    union
    select feature_key, replace(lower(feature_key), '_', ' ') from {{ ref('features') }}

),

definition as (

    select '{{ local_md5(model.raw_code) }}' || ':'
           || coalesce(string_agg(feature_key || '=' || keyword, '|'
                                  order by feature_key, keyword), '') as key
    from keywords

),

messages as (

    select
        staged.message_id,
        lower(staged.text)                                      as text,
        hash(coalesce(staged.text, chr(0)), definition.key)     as scan_key
    from {{ ref('stg_community_messages') }} as staged
    cross join definition

),

todo as (

    select * from messages
    {% if is_incremental() %}
    anti join {{ this }} as done
      on done.message_id = messages.message_id
     and done.scan_key = messages.scan_key
    {% endif %}

),

matches as (

    select
        todo.message_id,
        keywords.feature_key,
        length(keywords.keyword)                    as keyword_length,
        strpos(todo.text, keywords.keyword)         as position
    from todo
    join keywords
      on contains(todo.text, keywords.keyword)
    where keywords.keyword <> ''

),

best as (

    select message_id, feature_key
    from matches
    qualify row_number() over (
        partition by message_id
        order by keyword_length desc, position, feature_key
    ) = 1

)

select todo.message_id, todo.scan_key, best.feature_key
from todo
left join best using (message_id)
