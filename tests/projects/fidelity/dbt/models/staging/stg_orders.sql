select order_id, customer_id, store_id, amount_cents, status
from {{ ref('orders') }}
