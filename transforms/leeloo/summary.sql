-- A compact funnel per tunnel for `make demo`: the latest stats snapshot, people whose
-- subscribe history includes the tunnel, and paid revenue per currency.
with latest as (
    select f.*, row_number() over (partition by f.tunnel_id order by f.snapshot_date desc) as rn
    from tunnel_funnel f
),

members as (
    select h.tunnel_id, count(distinct h.person_id) as people
    from stg_subscribe_history h
    group by h.tunnel_id
),

revenue as (
    select
        r.tunnel_id,
        cast(sum(r.paid_orders) as bigint) as paid_orders,
        string_agg(
            coalesce(r.currency, '?') || ' ' || cast(cast(r.revenue as decimal(18, 2)) as text), ', '
            order by r.currency
        ) as paid_revenue
    from tunnel_revenue r
    group by r.tunnel_id
)

select
    coalesce(t.tunnel_name, t.tunnel_id) as tunnel,
    l.snapshot_date,
    l.visits,
    l.shows,
    l.subscribers,
    l.orders,
    l.sales,
    l.total_sale,
    coalesce(m.people, 0) as people,
    coalesce(r.paid_orders, 0) as paid_orders,
    r.paid_revenue
from stg_tunnels t
left join latest l on l.tunnel_id = t.tunnel_id and l.rn = 1
left join members m on m.tunnel_id = t.tunnel_id
left join revenue r on r.tunnel_id = t.tunnel_id
order by tunnel
