-- One row per tunnel and ISO week (Monday, reports_timezone) of order creation: the orders created that
-- week by people whose FIRST subscribe-history entry is that tunnel (tunnel_id NULL: the
-- person is unknown or has no history), how many of them reached a paid status (RESOLVED,
-- SUCCESS) at any point, and the median and 90th percentile (interpolated) of the hours
-- from an order's creation to its first paid status. That moment is the change's time as
-- Leeloo gives it (updatedAt; when the run saw it if there is none), the first observation
-- of an order counting as a change: an order first seen already paid is timed at its
-- updatedAt then. Orders reached paid without an observed change (loaded before the
-- change history began) count in paid_orders but not in the hours.
-- materialized: table — an aggregate over every order and its history, rebuilt after
-- every load.
-- tests: unique(tunnel_id, week_start); not_null(week_start, orders, paid_orders); share(paid_share)
with first_entries as (
    select h.person_id, h.tunnel_id, h.tunnel_name
    from stg_subscribe_history h
    where not exists (
        select 1 from stg_subscribe_history earlier
        where earlier.person_id = h.person_id and earlier.position < h.position
    )
),

first_paid as (
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
    left join first_entries f on f.person_id = o.person_id
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
    percentile_cont(0.5) within group (order by t.hours_to_paid) as median_hours_to_paid,
    percentile_cont(0.9) within group (order by t.hours_to_paid) as p90_hours_to_paid
from timed t
left join stg_tunnels tu on tu.tunnel_id = t.tunnel_id
group by t.tunnel_id, t.week_start
