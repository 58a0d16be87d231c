{{ config(enabled=var('include_stores')) }}
select s.city, count(*) as orders
from {{ ref('stg_orders') }} o
join {{ ref('stores') }} s using (store_id)
group by 1
