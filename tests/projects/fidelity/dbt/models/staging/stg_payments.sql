select cast(payment_id as integer) as payment_id, cast(order_id as integer) as order_id,
       cast(amount_cents as integer) as amount_cents, method
from {{ source('raw', 'payments') }}
