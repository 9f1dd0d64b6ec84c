with counted as (
    select
        o.status,
        o.status_name,
        o.state_id,
        count(*) as orders,
        count(distinct o.client_id) as clients
    from stg_orders o
    group by o.status, o.status_name, o.state_id
)

select
    status,
    status_name,
    state_id,
    orders,
    clients,
    cast(orders as double precision) / nullif(sum(orders) over (), 0) as share_of_orders
from counted
order by status, state_id
