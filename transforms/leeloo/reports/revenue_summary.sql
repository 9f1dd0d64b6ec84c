-- One row per currency (NULL: orders without one): every order the API still has, counted
-- once. paid_orders and revenue are the total every revenue report is checked against
-- (revenue_reconciliation); refunded and open orders with their amounts beside them. An
-- order whose price is not a number counts as an order and adds nothing to an amount.
-- tests: unique(currency); not_null(paid_orders, revenue, refunded_orders, open_orders, failed_orders)
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
