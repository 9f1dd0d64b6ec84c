with touches as (
    select
        'first' as touch, f.currency, f.attributed, f.paid_orders, f.revenue
    from revenue_first_touch f
    union all
    select
        'last' as touch, l.currency, l.attributed, l.paid_orders, l.revenue
    from revenue_last_touch l
),

by_touch as (
    select
        touch,
        currency,
        sum(paid_orders) filter (where attributed) as attributed_orders,
        sum(revenue) filter (where attributed) as attributed_revenue,
        sum(paid_orders) filter (where not attributed) as unattributed_orders,
        sum(revenue) filter (where not attributed) as unattributed_revenue
    from touches
    group by touch, currency
),

kinds as (
    select 'first' as touch
    union all
    select 'last' as touch
),

pairs as (
    select k.touch, s.currency
    from revenue_summary s
    cross join kinds k
    union
    select b.touch, b.currency from by_touch b
)

select
    p.touch,
    p.currency,
    coalesce(s.paid_orders, 0) as paid_orders,
    coalesce(s.revenue, 0) as revenue,
    coalesce(b.attributed_orders, 0) as attributed_orders,
    coalesce(b.attributed_revenue, 0) as attributed_revenue,
    coalesce(b.unattributed_orders, 0) as unattributed_orders,
    coalesce(b.unattributed_revenue, 0) as unattributed_revenue,
    coalesce(s.paid_orders, 0)
    - coalesce(b.attributed_orders, 0) - coalesce(b.unattributed_orders, 0) as order_difference,
    coalesce(s.revenue, 0)
    - coalesce(b.attributed_revenue, 0) - coalesce(b.unattributed_revenue, 0) as revenue_difference
from pairs p
left join revenue_summary s on p.currency is not distinct from s.currency
left join by_touch b on p.touch = b.touch and p.currency is not distinct from b.currency
