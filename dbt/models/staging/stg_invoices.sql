-- Invoices, typed. Amounts arrive with two decimals (read as DOUBLE or text); keep them as exact
-- decimals, never floating point, so that sums of money add up to the cent.
select
    cast(invoice_id as varchar)                     as invoice_id,
    cast(user_id as bigint)                         as user_id,
    cast(issued_at as date)                         as issued_at,
    cast(amount as decimal(12, 2))                  as amount,
    upper(trim(currency))                           as currency,
    lower(trim(status))                             as status,
    _loaded_at,
    _source_file
from {{ source('raw', 'invoices') }}
