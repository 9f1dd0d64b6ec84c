select
    o.currency,
    count(*) filter (where o.status_group = 'paid') as paid_orders,
    coalesce(sum(o.price) filter (where o.status_group = 'paid'), 0) as revenue,
    count(*) filter (where o.status_group = 'refunded') as refunded_orders,
    coalesce(sum(o.price) filter (where o.status_group = 'refunded'), 0) as refunded,
    count(*) filter (where o.status_group = 'open') as open_orders,
    coalesce(sum(o.price) filter (where o.status_group = 'open'), 0) as open_amount,
    count(*) filter (where o.status_group = 'failed') as failed_orders
from stg_orders o
group by o.currency
