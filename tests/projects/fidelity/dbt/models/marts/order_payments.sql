{{ config(materialized='incremental', unique_key='order_id') }}
select o.order_id, o.status, {{ fidelity_pkg.cents_to_dollars('p.amount_cents') }} as paid
from {{ ref('stg_orders') }} o
join {{ ref('stg_payments') }} p using (order_id)
{% if is_incremental() %}
where o.order_id > (select coalesce(max(order_id), 0) from {{ this }})
{% endif %}
