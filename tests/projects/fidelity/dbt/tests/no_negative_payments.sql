{{ config(enabled=false) }}
select * from {{ ref('stg_payments') }} where amount_cents < 0
