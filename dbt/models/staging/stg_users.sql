-- One row per user, cleaned.
--
-- The monthly exports re-export a user when their plan changes, so a user_id can appear in several
-- files. The latest export wins: latest load first, then the latest file (file names sort by
-- month), then the latest sign-up time as a last tie-break.
with source as (

    select * from {{ source('raw', 'users') }}

),

cleaned as (

    select
        cast(user_id as bigint)                          as user_id,
        -- Emails arrive mixed-case and padded with spaces from web forms.
        lower(trim(email))                               as email,
        trim(name)                                       as name,
        -- The export writes the string 'NA' for missing values.
        nullif(trim(company), 'NA')                      as company,
        nullif(upper(trim(country)), 'NA')               as country,
        lower(trim(plan))                                as plan,
        cast(signed_up_at as timestamp)                  as signed_up_at,
        _loaded_at,
        _source_file
    from source
    where user_id is not null

),

latest as (

    select *
    from cleaned
    qualify row_number() over (
        partition by user_id
        order by _loaded_at desc, _source_file desc, signed_up_at desc
    ) = 1

)

select
    user_id,
    email,
    name,
    company,
    country,
    plan,
    signed_up_at,
    _loaded_at,
    _source_file
from latest
