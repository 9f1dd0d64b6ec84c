-- One row per messenger, bot (channel group of the order's client; NULL: client unknown)
-- and ISO week (Monday, reports_timezone) in which a run FIRST SAW the orders: Salebot documents no
-- order creation time, so this report measures from the first observation, not from
-- creation. orders: first seen that week; successful_orders: of them, those seen
-- successful (status 1) at any point; timed_orders: those first seen while not yet
-- successful and later seen successful, whose hours from the first observation to the
-- first successful one give the median and 90th percentile (interpolated). The hours are
-- as coarse as the runs (nightly runs: multiples of about 24 h), and the week of the first
-- load holds every order that already existed then, whatever its age.
-- tests: unique(messenger, channel_group_id, week_start); not_null(week_start, orders)
with observed as (
    select
        c.order_id,
        min(c.observed_at) as first_observed_at,
        min(case when c.new_status_name = 'success' then c.observed_at end) as first_success_at
    from stg_order_status_changes c
    group by c.order_id
),

timed as (
    select
        cl.messenger,
        cl.channel_group_id,
        cast(date_trunc('week', ob.first_observed_at at time zone reports_timezone()) as date) as week_start,
        (ob.first_success_at is not null or o.is_successful) as reached_success,
        case
            when ob.first_success_at > ob.first_observed_at
                then (extract(epoch from ob.first_success_at) - extract(epoch from ob.first_observed_at)) / 3600.0
        end as hours_to_success
    from stg_orders o
    join observed ob on ob.order_id = o.order_id
    left join stg_clients cl on cl.client_id = o.client_id
)

select
    t.messenger,
    t.channel_group_id,
    t.week_start,
    count(*) as orders,
    count(*) filter (where t.reached_success) as successful_orders,
    count(t.hours_to_success) as timed_orders,
    percentile_cont(0.5) within group (order by t.hours_to_success) as median_hours_to_success,
    percentile_cont(0.9) within group (order by t.hours_to_success) as p90_hours_to_success
from timed t
group by t.messenger, t.channel_group_id, t.week_start
