{{ config(database='archive') }}
select customer_id, name from {{ ref('customers') }}
