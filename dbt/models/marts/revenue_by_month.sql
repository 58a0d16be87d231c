-- Invoiced revenue per month and currency. Currencies are not converted: mixing them would
-- need exchange rates this project does not have, and a wrong total is worse than three totals.
select
    cast(date_trunc('month', issued_at) as date)                        as month,
    currency,
    count(*)                                                            as invoices,
    coalesce(sum(amount) filter (where status = 'paid'), 0)             as paid_amount,
    coalesce(sum(amount) filter (where status = 'open'), 0)             as open_amount,
    count(*) filter (where status = 'void')                             as void_invoices
from {{ ref('stg_invoices') }}
group by all
