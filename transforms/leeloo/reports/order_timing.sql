with first_paid as (
    select c.order_id, min(coalesce(c.changed_at, c.observed_at)) as first_paid_at
    from stg_order_status_changes c
    where c.is_paid
    group by c.order_id
),

timed as (
    select
        o.order_id,
        f.tunnel_id,
        f.tunnel_name,
        cast(date_trunc('week', o.created_at at time zone reports_timezone()) as date) as week_start,
        (p.first_paid_at is not null or o.is_paid) as reached_paid,
        (extract(epoch from p.first_paid_at) - extract(epoch from o.created_at)) / 3600.0 as hours_to_paid
    from stg_orders o
    left join stg_touches f on f.person_id = o.person_id and f.touch = 'first'
    left join first_paid p on p.order_id = o.order_id
    where o.created_at is not null
)

select
    t.tunnel_id,
    coalesce(max(tu.tunnel_name), max(t.tunnel_name)) as tunnel_name,
    t.week_start,
    count(*) as orders,
    count(*) filter (where t.reached_paid) as paid_orders,
    cast(count(*) filter (where t.reached_paid) as double precision) / count(*) as paid_share,
    percentiles(t.hours_to_paid, 0.5, 0.9)  -- noqa: AL03
from timed t
left join stg_tunnels tu on tu.tunnel_id = t.tunnel_id
group by t.tunnel_id, t.week_start
