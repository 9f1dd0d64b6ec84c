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
    percentiles(t.hours_to_success, 0.5, 0.9)  -- noqa: AL03
from timed t
group by t.messenger, t.channel_group_id, t.week_start
