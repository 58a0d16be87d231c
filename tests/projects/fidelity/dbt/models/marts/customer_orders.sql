select c.customer_id, c.name, count(o.order_id) as orders,
       {{ fidelity_pkg.cents_to_dollars('sum(o.amount_cents)') }} as dollars,
       sum(case when o.amount_cents >= {{ var('big_order_cents') }} then 1 else 0 end) as big_orders
from {{ ref('customers') }} c
left join {{ ref('stg_orders') }} o using (customer_id)
group by 1, 2
